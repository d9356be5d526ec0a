package dev.obd.registry;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.ImageSource;
import dev.obd.image.oci.ImageTarget;
import dev.obd.image.oci.MediaTypes;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.function.LongConsumer;

/**
 * An image in a registry repository, as a conversion's source or target, over the OCI distribution
 * API. What is read is verified against its digest as it arrives; blobs the repository has are not
 * uploaded again; the tag is written by {@link #tag} alone. Blob bodies that stall for {@link
 * #STALL} are abandoned, so no read waits forever.
 */
public final class RegistryImage implements ImageSource, ImageTarget {
  /** Largest manifest, index or config read. */
  static final int MAX_DOCUMENT = 16 << 20;

  /** How long a blob download may go without a byte before it fails. */
  static final Duration STALL = Duration.ofSeconds(60);

  /** Uploads get the request timeout plus a second for each MiB (a floor of 1 MiB/s). */
  static final long UPLOAD_BYTES_PER_SECOND = 1 << 20;

  private static final String ACCEPT =
      String.join(
          ", ",
          MediaTypes.OCI_INDEX,
          MediaTypes.OCI_MANIFEST,
          MediaTypes.DOCKER_MANIFEST_LIST,
          MediaTypes.DOCKER_MANIFEST);

  private static final Set<String> MANIFEST_TYPES =
      Set.of(
          MediaTypes.OCI_INDEX,
          MediaTypes.OCI_MANIFEST,
          MediaTypes.DOCKER_MANIFEST_LIST,
          MediaTypes.DOCKER_MANIFEST);

  private static final ObjectMapper JSON = new ObjectMapper();

  private final DistributionClient client;
  private final ImageReference ref;

  public RegistryImage(DistributionClient client, ImageReference ref) {
    this.client = client;
    this.ref = ref;
  }

  public ImageReference reference() {
    return ref;
  }

  @Override
  public String name() {
    return ref.toString();
  }

  private String path(String kind, String reference) {
    return "/v2/" + ref.repository() + "/" + kind + "/" + reference;
  }

  private DistributionClient.Call get(String path, String accept, boolean head) {
    return new DistributionClient.Call(
        head ? "HEAD" : "GET",
        client.url(ref, path),
        HttpRequest.BodyPublishers.noBody(),
        accept.isEmpty() ? Map.of() : Map.of("Accept", accept),
        client.requestTimeout(),
        true);
  }

  @Override
  public Document root() throws IOException {
    String what = "read manifest " + name();
    HttpResponse<InputStream> r =
        client.send(ref, get(path("manifests", ref.reference()), ACCEPT, false), what);
    byte[] bytes = document(r, what);
    Digest digest = Digest.of(bytes);
    if (!ref.digest().isEmpty() && !digest.toString().equals(ref.digest())) {
      throw new IOException(what + ": the registry sent a manifest whose digest is " + digest);
    }
    String type = DistributionClient.mediaType(r);
    if (!MANIFEST_TYPES.contains(type)) {
      type = JSON.readTree(bytes).path("mediaType").asText("");
    }
    if (!MANIFEST_TYPES.contains(type)) {
      throw new IOException(
          what
              + ": the registry sent a "
              + (type.isEmpty() ? "document without a media type" : type)
              + ", not an image manifest or index");
    }
    return new Document(new Descriptor(type, digest, bytes.length), bytes);
  }

  @Override
  public byte[] read(Descriptor d) throws IOException {
    boolean manifest = MANIFEST_TYPES.contains(d.mediaType());
    String what = "read " + (manifest ? "manifest " : "blob ") + d.digest() + " of " + name();
    if (d.size() > MAX_DOCUMENT) {
      throw new IOException(what + ": " + d.size() + " bytes is too large for a JSON document");
    }
    HttpResponse<InputStream> r =
        client.send(
            ref,
            get(
                path(manifest ? "manifests" : "blobs", d.digest().toString()),
                manifest ? ACCEPT : "",
                false),
            what);
    byte[] bytes = document(r, what);
    if (bytes.length != d.size() || !Digest.of(bytes).equals(d.digest())) {
      throw new IOException(what + ": the registry sent content whose size or digest differs");
    }
    return bytes;
  }

  /** The body of a 200 answer, at most {@link #MAX_DOCUMENT} bytes. */
  private static byte[] document(HttpResponse<InputStream> r, String what) throws IOException {
    check(r, 200, what);
    try (InputStream in = r.body()) {
      byte[] bytes = in.readNBytes(MAX_DOCUMENT + 1);
      if (bytes.length > MAX_DOCUMENT) {
        throw new IOException(
            what + ": the document is larger than " + (MAX_DOCUMENT >> 20) + " MiB");
      }
      return bytes;
    }
  }

  /** Fails unless the answer is {@code expected}; 404 becomes {@link BlobNotFoundException}. */
  private static void check(HttpResponse<InputStream> r, int expected, String what)
      throws IOException {
    int status = r.statusCode();
    if (status == expected) {
      return;
    }
    String detail = DistributionClient.errorDetail(r);
    if (status == 404) {
      throw new BlobNotFoundException(what + ": registry answered 404 (not found)" + detail);
    }
    if (status == 401 || status == 403) {
      throw new RegistryDeniedException(what + ": registry answered " + status + detail);
    }
    throw new RegistryUnavailableException(what + ": registry answered " + status + detail, null);
  }

  @Override
  public LocalBlob fetch(Descriptor d, Path scratch) throws IOException {
    return fetch(d, scratch, n -> {});
  }

  @Override
  public LocalBlob fetch(Descriptor d, Path scratch, LongConsumer received) throws IOException {
    String what = "download blob " + d.digest() + " of " + name();
    HttpResponse<InputStream> r =
        client.send(ref, get(path("blobs", d.digest().toString()), "", false), what);
    check(r, 200, what);
    Path file = scratch.resolve(d.digest().hex());
    Path part = scratch.resolve(d.digest().hex() + ".part");
    MessageDigest sha = sha256();
    long n = 0;
    try (InputStream raw = r.body();
        StallGuard guard = new StallGuard(raw, STALL, what);
        OutputStream out = Files.newOutputStream(part)) {
      byte[] buf = new byte[1 << 16];
      int k;
      while ((k = guard.read(buf)) > 0) {
        out.write(buf, 0, k);
        sha.update(buf, 0, k);
        n += k;
        received.accept(n);
        if (n > d.size()) {
          break;
        }
      }
    } catch (IOException e) {
      Files.deleteIfExists(part);
      throw e;
    }
    String got = "sha256:" + HexFormat.of().formatHex(sha.digest());
    if (n != d.size() || !got.equals(d.digest().toString())) {
      Files.deleteIfExists(part);
      throw new IOException(
          what
              + ": the registry sent "
              + (n > d.size() ? "more than " : "")
              + n
              + " bytes with digest "
              + got
              + ", not the "
              + d.size()
              + " bytes the manifest describes");
    }
    Files.move(part, file, StandardCopyOption.REPLACE_EXISTING);
    return new LocalBlob(file, true);
  }

  @Override
  public void checkWritable() throws IOException {
    String what = "check that " + name() + " can be pushed to";
    cancelUpload(startUpload(what), what);
  }

  /** Cancels an upload session; a registry that cannot is no reason to stop. */
  private void cancelUpload(URI upload, String what) {
    try {
      HttpResponse<InputStream> r =
          client.send(
              ref,
              new DistributionClient.Call(
                  "DELETE",
                  upload,
                  HttpRequest.BodyPublishers.noBody(),
                  Map.of(),
                  client.requestTimeout(),
                  true),
              what + " (cancel the upload session)");
      r.body().close();
    } catch (IOException e) {
      // the session expires on the registry by itself
    }
  }

  @Override
  public String location() {
    return ref.host() + "/" + ref.repository();
  }

  /**
   * The distribution API's cross-repository mount: {@code POST
   * /v2/<repository>/blobs/uploads/?mount=<digest>&from=<other>}, which the registry answers 201
   * when it linked the blob, or 202 with an upload session (cancelled here) when it cannot.
   */
  @Override
  public boolean mount(Descriptor d, String location) throws IOException {
    String prefix = ref.host() + "/";
    if (!location.startsWith(prefix)) {
      return false;
    }
    String from = location.substring(prefix.length());
    if (from.equals(ref.repository())) {
      return has(d);
    }
    try {
      new ImageReference(ref.host(), from, "latest", "");
    } catch (IllegalArgumentException e) {
      return false;
    }
    String what = "mount blob " + d.digest() + " from " + location + " into " + name();
    URI uri =
        client.url(
            ref,
            "/v2/"
                + ref.repository()
                + "/blobs/uploads/?mount="
                + d.digest()
                + "&from="
                + java.net.URLEncoder.encode(from, java.nio.charset.StandardCharsets.UTF_8));
    HttpResponse<InputStream> r =
        client.send(
            ref,
            new DistributionClient.Call(
                "POST",
                uri,
                HttpRequest.BodyPublishers.noBody(),
                Map.of(),
                client.requestTimeout(),
                false),
            what);
    if (r.statusCode() == 201) {
      r.body().close();
      return true;
    }
    if (r.statusCode() == 202) {
      r.body().close();
      r.headers().firstValue("Location").ifPresent(l -> cancelUpload(uri.resolve(l), what));
      return false;
    }
    check(r, 201, what);
    return false;
  }

  @Override
  public boolean has(Descriptor d) throws IOException {
    String what = "check for blob " + d.digest() + " in " + name();
    HttpResponse<InputStream> r =
        client.send(ref, get(path("blobs", d.digest().toString()), "", true), what);
    r.body().close();
    if (r.statusCode() == 200) {
      return true;
    }
    if (r.statusCode() == 404) {
      return false;
    }
    check(r, 200, what);
    return false;
  }

  @Override
  public void putBlob(Descriptor d, Path file) throws IOException {
    upload(d, HttpRequest.BodyPublishers.ofFile(file), Files.size(file));
  }

  @Override
  public void putBlob(Descriptor d, byte[] bytes) throws IOException {
    upload(d, HttpRequest.BodyPublishers.ofByteArray(bytes), bytes.length);
  }

  /** A monolithic upload: a session, then one PUT of the whole blob that closes it. */
  private void upload(Descriptor d, HttpRequest.BodyPublisher body, long size) throws IOException {
    String what = "upload blob " + d.digest() + " (" + size + " bytes) to " + name();
    URI session = startUpload(what);
    String q = session.getRawQuery();
    URI put =
        URI.create(
            session.toString() + (q == null || q.isEmpty() ? "?" : "&") + "digest=" + d.digest());
    HttpResponse<InputStream> r =
        client.send(
            ref,
            new DistributionClient.Call(
                "PUT",
                put,
                body,
                Map.of("Content-Type", "application/octet-stream"),
                client.requestTimeout().plusSeconds(size / UPLOAD_BYTES_PER_SECOND),
                false),
            what);
    check(r, 201, what);
    r.body().close();
  }

  /** Opens an upload session; returns where to send the blob. */
  private URI startUpload(String what) throws IOException {
    URI start = client.url(ref, "/v2/" + ref.repository() + "/blobs/uploads/");
    HttpResponse<InputStream> r =
        client.send(
            ref,
            new DistributionClient.Call(
                "POST",
                start,
                HttpRequest.BodyPublishers.noBody(),
                Map.of(),
                client.requestTimeout(),
                false),
            what);
    check(r, 202, what);
    r.body().close();
    String location =
        r.headers()
            .firstValue("Location")
            .orElseThrow(
                () ->
                    new IOException(
                        what + ": the registry opened no upload session (no Location)"));
    return start.resolve(location);
  }

  @Override
  public void putManifest(Descriptor d, byte[] bytes) throws IOException {
    putManifest(d, bytes, d.digest().toString());
  }

  @Override
  public void tag(Descriptor d, byte[] bytes) throws IOException {
    if (ref.tag().isEmpty()) {
      throw new IOException("tag " + name() + ": the target reference names no tag");
    }
    putManifest(d, bytes, ref.tag());
  }

  private void putManifest(Descriptor d, byte[] bytes, String reference) throws IOException {
    String what =
        "push manifest "
            + d.digest()
            + " to "
            + ref.host()
            + "/"
            + ref.repository()
            + (reference.startsWith("sha256:") ? "@" : ":")
            + reference;
    HttpResponse<InputStream> r =
        client.send(
            ref,
            new DistributionClient.Call(
                "PUT",
                client.url(ref, path("manifests", reference)),
                HttpRequest.BodyPublishers.ofByteArray(bytes),
                Map.of("Content-Type", d.mediaType()),
                client.requestTimeout(),
                true),
            what);
    check(r, 201, what);
    r.body().close();
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
