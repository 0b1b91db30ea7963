// Connect-token minting for Java backends (JDK 11+ only; copy this one file into your Spring Boot
// project and change the package line). Format: clients/PROTOCOL.md, "Tokens"; pinned against the
// Python implementation by clients/token-vectors.json (checked in `make test`).
//
//   String token = ConnectTokens.mint(secret, "new.user@example.com", "email-verification");
//   // hand it to the frontend, which connects with ...&token=<token>; mint one per connect attempt.

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** Mints short-lived signed connect tokens {@code v1.{exp}.{sig}} for the WebSocket service. */
public final class ConnectTokens {
    /** Token format version. */
    public static final String VERSION = "v1";
    /** Longest lifetime the service accepts, in seconds (15 minutes). */
    public static final long MAX_TTL_SECONDS = 15 * 60;
    /** Default lifetime, in seconds. */
    public static final long DEFAULT_TTL_SECONDS = 600;

    private ConnectTokens() {
    }

    /** The email as the service compares it: surrounding whitespace removed, only A-Z lower-cased. */
    static String canonicalEmail(String email) {
        char[] chars = email.strip().toCharArray();
        for (int i = 0; i < chars.length; i++) {
            if (chars[i] >= 'A' && chars[i] <= 'Z') {
                chars[i] = (char) (chars[i] + ('a' - 'A'));
            }
        }
        return new String(chars);
    }

    /** A token for {@code email} and {@code type}, valid for {@link #DEFAULT_TTL_SECONDS} from now. */
    public static String mint(String secret, String email, String type) {
        return mint(secret, email, type, DEFAULT_TTL_SECONDS, System.currentTimeMillis() / 1000L);
    }

    /**
     * A token valid for {@code ttlSeconds} (1..900) after {@code nowEpochSeconds}.
     *
     * <p>{@code sig} is the unpadded base64url HMAC-SHA256 (key: the secret as UTF-8) of
     * {@code "v1\n" + canonicalEmail(email) + "\n" + type + "\n" + exp}.
     *
     * @throws IllegalArgumentException for a blank secret or a lifetime out of range
     */
    public static String mint(String secret, String email, String type, long ttlSeconds, long nowEpochSeconds) {
        if (secret == null || secret.isBlank()) {
            throw new IllegalArgumentException("token secret must be a non-empty, non-blank string");
        }
        if (email == null || type == null) {
            throw new IllegalArgumentException("email and type are required");
        }
        if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
            throw new IllegalArgumentException("ttlSeconds=" + ttlSeconds + " must be between 1 and " + MAX_TTL_SECONDS);
        }
        long exp = nowEpochSeconds + ttlSeconds;
        String message = VERSION + "\n" + canonicalEmail(email) + "\n" + type + "\n" + exp;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            byte[] digest = mac.doFinal(message.getBytes(StandardCharsets.UTF_8));
            return VERSION + "." + exp + "." + Base64.getUrlEncoder().withoutPadding().encodeToString(digest);
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }
}
