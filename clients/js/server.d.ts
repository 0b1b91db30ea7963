/** Connect-token minting for Node backends (node:crypto). */
export declare const TOKEN_VERSION: "v1";
export declare const MAX_TTL_SECONDS: number;
export declare const DEFAULT_TTL_SECONDS: number;
/** Mint `v1.{exp}.{sig}` valid for ttlSeconds (1..900, default 600) from now (unix seconds). */
export declare function mintToken(secret: string, email: string, type: string,
  options?: { ttlSeconds?: number; now?: number }): string;
/** The signature part for an explicit expiry (unix seconds). */
export declare function signature(secret: string, email: string, type: string, exp: number): string;
