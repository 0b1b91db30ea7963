// Test driver (not for copying): reads vectors as lines of tab-separated base64 fields
// key, email, type, ttlSeconds, now on stdin and prints one minted token per line.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

public final class TokenVectors {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Base64.Decoder b64 = Base64.getDecoder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.split("\t", -1);
            String key = new String(b64.decode(f[0]), StandardCharsets.UTF_8);
            String email = new String(b64.decode(f[1]), StandardCharsets.UTF_8);
            String type = new String(b64.decode(f[2]), StandardCharsets.UTF_8);
            System.out.println(ConnectTokens.mint(key, email, type, Long.parseLong(f[3]), Long.parseLong(f[4])));
        }
    }
}
