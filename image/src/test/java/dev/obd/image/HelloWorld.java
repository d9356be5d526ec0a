package dev.obd.image;

import dev.obd.testsupport.Requirements;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/** The shared hello-world OCI layout: an original image and its official OverlayBD conversion. */
public final class HelloWorld {
  public static final String LAYER =
      "022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";
  public static final String ORIGINAL_LAYER =
      "719385e32844401d57ecfd3eacab360bf551a1491c05b85806ed8f1b08d792f6";
  public static final long LAYER_SIZE = 642_560;
  public static final String HELLO_SHA256 =
      "d3f7d10e296e5c626ea78539cb38cd8dffd043bea3627da35ce3b20c0ac68014";

  private HelloWorld() {}

  /** The layout directory; skips (fails in CI) when the shared data is absent. */
  public static Path layout() {
    return Requirements.requireSharedTestData("hello-world-obd");
  }

  /** The converted layer blob (tar → ZFile → LSMT). */
  public static Path convertedLayer() {
    return layout().resolve("blobs/sha256/" + LAYER);
  }

  /** {@code /hello} as stored in the original gzip layer. */
  public static byte[] originalHello() throws IOException {
    Path blob = layout().resolve("blobs/sha256/" + ORIGINAL_LAYER);
    try (InputStream in = new BufferedInputStream(Files.newInputStream(blob));
        TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
      for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
        if (e.getName().equals("hello") || e.getName().equals("./hello")) {
          return tar.readAllBytes();
        }
      }
    }
    throw new IOException("no /hello in " + blob);
  }
}
