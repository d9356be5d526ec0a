package dev.obd.registry;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A TLS context from PEM files, as upstream's {@code credentialConfig} names them: a client
 * certificate chain and its private key (PKCS#8 {@code PRIVATE KEY}, RSA or EC, or PKCS#1 {@code
 * RSA PRIVATE KEY}) for mutual TLS, and the CA certificates that sign the server's certificate
 * (without them, the JDK's trusted CAs). With the JDK alone; errors name the file and what is
 * wrong, never the key's content.
 */
final class Pem {
  /** The key store lives in memory only; PKCS#12 wants some password. */
  private static final char[] STORE_PASSWORD = "in-memory".toCharArray();

  private Pem() {}

  /**
   * @param clientCert the client certificate chain, or null for none
   * @param clientKey its private key, or null (both or neither)
   * @param serverCa CA certificates to trust, or null for the JDK's
   */
  static SSLContext sslContext(Path clientCert, Path clientKey, Path serverCa) throws IOException {
    if ((clientCert == null) != (clientKey == null)) {
      throw new IOException(
          "client_cert_path and client_key_path must be given together, not one of them");
    }
    try {
      KeyManagerFactory kmf = null;
      if (clientCert != null) {
        List<Certificate> chain = certificates(clientCert);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry(
            "client", privateKey(clientKey), STORE_PASSWORD, chain.toArray(new Certificate[0]));
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, STORE_PASSWORD);
      }
      TrustManagerFactory tmf = null;
      if (serverCa != null) {
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        int i = 0;
        for (Certificate c : certificates(serverCa)) {
          ts.setCertificateEntry("ca" + i++, c);
        }
        tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ts);
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(
          kmf == null ? null : kmf.getKeyManagers(),
          tmf == null ? null : tmf.getTrustManagers(),
          null);
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot set up TLS: " + e.getMessage(), e);
    }
  }

  static List<Certificate> certificates(Path file) throws IOException {
    byte[] bytes = read(file);
    try {
      List<Certificate> out =
          new ArrayList<>(
              CertificateFactory.getInstance("X.509")
                  .generateCertificates(new ByteArrayInputStream(bytes)));
      if (out.isEmpty()) {
        throw new IOException(file + ": no PEM certificate in it");
      }
      return out;
    } catch (GeneralSecurityException e) {
      throw new IOException(file + ": not PEM certificates: " + e.getMessage(), e);
    }
  }

  static PrivateKey privateKey(Path file) throws IOException {
    String text = new String(read(file), StandardCharsets.US_ASCII);
    byte[] pkcs8;
    if (text.contains("-----BEGIN PRIVATE KEY-----")) {
      pkcs8 = block(text, "PRIVATE KEY", file);
    } else if (text.contains("-----BEGIN RSA PRIVATE KEY-----")) {
      pkcs8 = rsaPkcs1ToPkcs8(block(text, "RSA PRIVATE KEY", file));
    } else if (text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
      throw new IOException(file + ": the private key is encrypted; it must not be");
    } else {
      throw new IOException(
          file
              + ": no PEM private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY); an EC key can"
              + " be converted with: openssl pkcs8 -topk8 -nocrypt");
    }
    for (String alg : List.of("RSA", "EC")) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
      } catch (GeneralSecurityException e) {
        // try the next algorithm
      }
    }
    throw new IOException(file + ": the private key is neither RSA nor EC");
  }

  private static byte[] read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException(file + ": not a regular file");
    }
    if (Files.size(file) > 1 << 20) {
      throw new IOException(file + ": larger than 1 MiB");
    }
    return Files.readAllBytes(file);
  }

  private static byte[] block(String text, String type, Path file) throws IOException {
    String begin = "-----BEGIN " + type + "-----";
    String end = "-----END " + type + "-----";
    int from = text.indexOf(begin);
    int to = text.indexOf(end, from);
    if (from < 0 || to < 0) {
      throw new IOException(file + ": " + type + " block is not complete");
    }
    try {
      return Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + type + " block is not base64");
    }
  }

  /** PKCS#8 PrivateKeyInfo around a PKCS#1 RSAPrivateKey: version 0, rsaEncryption, the key. */
  private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
    byte[] version = {0x02, 0x01, 0x00};
    byte[] algorithm = {
      0x30,
      0x0d,
      0x06,
      0x09,
      0x2a,
      (byte) 0x86,
      0x48,
      (byte) 0x86,
      (byte) 0xf7,
      0x0d,
      0x01,
      0x01,
      0x01,
      0x05,
      0x00
    };
    byte[] octets = der(0x04, pkcs1);
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.writeBytes(version);
    body.writeBytes(algorithm);
    body.writeBytes(octets);
    return der(0x30, body.toByteArray());
  }

  private static byte[] der(int tag, byte[] content) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(tag);
    int n = content.length;
    if (n < 0x80) {
      out.write(n);
    } else {
      int bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
      out.write(0x80 | bytes);
      for (int i = bytes - 1; i >= 0; i--) {
        out.write((n >>> (8 * i)) & 0xff);
      }
    }
    out.writeBytes(content);
    return out.toByteArray();
  }
}
