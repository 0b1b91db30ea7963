/** Client of the notification WebSocket service (clients/PROTOCOL.md). */

export declare const VERSION: string;

export type State = "connecting" | "open" | "reconnecting" | "closed" | "failed";

export interface StateEvent {
  state: State;
  /** Why the connection is not open, in words (null when open or closed by the app). */
  cause: string | null;
  /** Failed attempts since the last open. */
  attempts: number;
}

export interface FallbackEvent {
  attempts: number;
  cause: string;
}

/** A pushed message: a parsed JSON value (objects carry `messageId`), or the text as sent. */
export type Message = any;

export interface Backoff {
  /** First retry waits a random time in [0, baseMs); default 500. */
  baseMs?: number;
  /** Ceiling of the doubling; default 30000. */
  maxMs?: number;
}

export interface ConnectOptions {
  /** The WebSocket URL, wss://{api}.execute-api.{region}.amazonaws.com/{stage}. */
  url: string;
  email: string;
  /** Connection type; default "email-verification". */
  type?: string;
  /** Called before EVERY attempt: return a fresh connect token (or null when tokens are off). */
  tokenProvider?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Heartbeat interval, under the gateway's 10-minute idle limit; default 300000 (5 min). The
   * heartbeat is a replay after the last messageId when replay is on (a catch-up), else a ping. */
  heartbeatMs?: number;
  /** No answer to a ping within this: the connection is treated as lost; default 15000. */
  pongTimeoutMs?: number;
  /** A handshake not finished within this is abandoned and retried; default 15000. */
  connectTimeoutMs?: number;
  /** Planned reconnect before the gateway's 2-hour limit; default 6900000 (115 min). */
  maxConnectionMs?: number;
  /** Exponential backoff with full jitter between failed attempts. */
  backoff?: Backoff;
  /** After this many failed attempts in a row, onFallback is called once; default 5. */
  fallbackAfter?: number;
  onFallback?: (event: FallbackEvent) => void;
  onState?: (event: StateEvent) => void;
  onMessage?: (message: Message) => void;
  /** Send {"action":"replay"} after every (re)connect; default true. */
  replay?: boolean;
  /** How many messageIds are remembered for de-duplication; default 10000. */
  dedupWindow?: number;
  /** The WebSocket constructor (Node 20 has none: pass `WebSocket` from the `ws` package). */
  WebSocket?: new (url: string) => any;
}

export interface Connection {
  readonly state: State;
  readonly cause: string | null;
  readonly attempts: number;
  /** "on" once a replay was answered, "off" when the service refused it, "unknown" before. */
  readonly replay: "on" | "off" | "unknown";
  /** How many replays the service has answered (diagnostics and tests). */
  readonly replays: number;
  /** The messageId the next replay continues after (null before the first). */
  readonly lastMessageId: string | null;
  /** HTTP status of a refused handshake (Node only: browsers hide it), else null. */
  readonly status: number | null;
  onState(listener: (event: StateEvent) => void): () => void;
  onMessage(listener: (message: Message) => void): () => void;
  /** Send an object (as JSON) or text; throws when not open. */
  send(message: unknown): void;
  /** The first message (already received or coming) for which predicate is true. Rejects on
   * timeout (ms), failure or close(). */
  waitFor(predicate: (message: Message) => boolean, options?: { timeout?: number }): Promise<Message>;
  /** Reconnect now, resetting the backoff (a retry button); revives a failed connection. */
  retry(): void;
  /** Close for good (state "closed", code 1000 with reason, default "closed by the app"); no reconnect. */
  close(reason?: string): void;
}

export declare const DEFAULTS: Readonly<Required<Pick<ConnectOptions,
  "type" | "heartbeatMs" | "pongTimeoutMs" | "connectTimeoutMs" | "maxConnectionMs" | "fallbackAfter" | "replay" | "dedupWindow">> & {
  backoff: Readonly<Required<Backoff>>;
}>;
export declare const REFUSED_STATUSES: Readonly<Record<number, string>>;
export declare function connect(options: ConnectOptions): Connection;
export declare function describeClose(code: number, opened: boolean): string;
export declare function backoffDelay(attempt: number, backoff: Required<Backoff>, random?: () => number): number;
