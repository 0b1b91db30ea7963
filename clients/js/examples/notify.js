// Notify from a Node backend with the AWS SDK v3: a direct invoke of the stack's ops function
// (its name is the stack output FunctionName). Run against `wsctl local` (its Invoke API) with:
//   AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:8080 FUNCTION_NAME=websocket-service-local \
//     node clients/js/examples/notify.js new.user@example.com
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";

/** Push `message` to every open connection of (email, type); kept for replay when none is open. */
export async function notify(lambda, functionName, email, type, message) {
  const answer = await lambda.send(new InvokeCommand({
    FunctionName: functionName,
    Payload: JSON.stringify({ action: "notify", email, type, message }),
  }));
  const result = JSON.parse(new TextDecoder().decode(answer.Payload));
  if (answer.FunctionError || !result.ok) throw new Error(`notify failed: ${JSON.stringify(result)}`);
  return result; // { ok, sent, gone, failed, messageId, kept, ... }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [email, type = "email-verification"] = process.argv.slice(2);
  const lambda = new LambdaClient({}); // region, credentials and AWS_ENDPOINT_URL_LAMBDA from the environment
  const result = await notify(lambda, process.env.FUNCTION_NAME, email, type, { type: "email-verified", email });
  console.log(JSON.stringify(result));
}
