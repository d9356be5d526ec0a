package dev.obd.backstore.it;

import dev.obd.image.build.BlobInfo;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.testsupport.Ext4Images;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Test images: an ext4 filesystem made by mkfs.ext4 from a directory, committed as an official
 * OverlayBD layer blob (tar(ZFile(LSMT))) by the format library; and pushing blobs to a registry
 * with the plain registry HTTP API.
 */
final class TestImages {
  private TestImages() {}

  /** An image with {@code files} random files of {@code fileSize} bytes and a small text file. */
  record Built(Path ext4, Path blob, String digest, long blobSize, Path source) {}

  static Built build(Path dir, int files, int fileSize, long imageSize) throws IOException {
    Path src = Files.createDirectories(dir.resolve("src"));
    Files.createDirectories(src.resolve("data"));
    Random r = new Random(7);
    for (int i = 0; i < files; i++) {
      byte[] b = new byte[fileSize];
      r.nextBytes(b);
      Files.write(src.resolve("data/file" + i + ".bin"), b);
    }
    Files.writeString(src.resolve("small.txt"), "hello from a lazily fetched layer\n");
    Path ext4 = Ext4Images.fromDirectory(src, dir.resolve("image.ext4"), imageSize);
    Path blob = dir.resolve("layer.blob");
    BlobInfo info =
        LayerCommitter.commit(
            ext4, Optional.empty(), blob, LayerCommitter.Options.of(LayerUuid.random()));
    return new Built(ext4, blob, info.digest(), info.size(), src);
  }

  /** Pushes {@code blob} into {@code repo} of the registry at {@code base} (http://host:port). */
  static void push(URI base, String repo, Path blob, String digest, String basicAuth)
      throws IOException, InterruptedException {
    HttpClient http = HttpClient.newHttpClient();
    HttpRequest.Builder post =
        HttpRequest.newBuilder(base.resolve("/v2/" + repo + "/blobs/uploads/"))
            .POST(HttpRequest.BodyPublishers.noBody());
    if (basicAuth != null) {
      post.header("Authorization", basicAuth);
    }
    HttpResponse<String> started = http.send(post.build(), HttpResponse.BodyHandlers.ofString());
    if (started.statusCode() != 202) {
      throw new IOException("start upload: " + started.statusCode() + " " + started.body());
    }
    String location = started.headers().firstValue("Location").orElseThrow();
    URI put = base.resolve(location + (location.contains("?") ? "&" : "?") + "digest=" + digest);
    HttpRequest.Builder b =
        HttpRequest.newBuilder(put)
            .header("Content-Type", "application/octet-stream")
            .PUT(HttpRequest.BodyPublishers.ofFile(blob));
    if (basicAuth != null) {
      b.header("Authorization", basicAuth);
    }
    HttpResponse<String> done = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    if (done.statusCode() != 201) {
      throw new IOException("upload blob: " + done.statusCode() + " " + done.body());
    }
  }

  private static final Pattern ACCESS =
      Pattern.compile("\"GET /v2/[^\"]*/blobs/(sha256:[0-9a-f]{64}) HTTP/1\\.1\" (\\d{3}) (\\d+)");

  /** Bytes the registry's access log says it served for GETs of {@code digest}. */
  static long bytesServed(Path registryLog, String digest) throws IOException {
    long total = 0;
    for (String line : Files.readAllLines(registryLog)) {
      Matcher m = ACCESS.matcher(line);
      if (m.find() && m.group(1).equals(digest) && m.group(2).startsWith("2")) {
        total += Long.parseLong(m.group(3));
      }
    }
    return total;
  }
}
