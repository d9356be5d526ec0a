package dev.obd.image.oci;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A content digest {@code sha256:<64 lower-case hex>}; the only algorithm OCI images use in
 * practice and the only one accepted here.
 *
 * @param hex the 64 hex digits
 */
public record Digest(String hex) {
  private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

  public Digest {
    if (!isHex(hex)) {
      throw new IllegalArgumentException("not a sha256 digest: \"" + hex + "\"");
    }
  }

  /** Parses {@code sha256:<hex>}. */
  public static Digest parse(String text) {
    if (text == null || !text.startsWith("sha256:")) {
      throw new IllegalArgumentException("not a sha256 digest: \"" + text + "\"");
    }
    return new Digest(text.substring(7));
  }

  /** Whether {@code text} is {@code sha256:<64 lower-case hex>}, which {@link #parse} takes. */
  public static boolean isValid(String text) {
    return text != null && text.startsWith("sha256:") && isHex(text.substring(7));
  }

  /** Whether {@code hex} is 64 lower-case hex digits, the {@link #hex} of a digest. */
  public static boolean isHex(String hex) {
    return hex != null && HEX.matcher(hex).matches();
  }

  /** The digest of {@code bytes}. */
  public static Digest of(byte[] bytes) {
    return new Digest(HexFormat.of().formatHex(sha256().digest(bytes)));
  }

  /** The digest of a file's content. */
  public static Digest of(Path file) throws IOException {
    MessageDigest md = sha256();
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
    }
    return new Digest(HexFormat.of().formatHex(md.digest()));
  }

  /** The OCI chain ID of a layer over a parent chain (or the layer's diffID for a bottom one). */
  public static Digest chainId(Digest parentChain, Digest diffId) {
    if (parentChain == null) {
      return diffId;
    }
    return of((parentChain + " " + diffId).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
  }

  /** A fresh SHA-256 digester. */
  public static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JDK", e);
    }
  }

  @Override
  public String toString() {
    return "sha256:" + hex;
  }
}
