package dev.obd.image.tar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteArraySource;
import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;

class TarWrapperTest {
  private static byte[] payload(int n) {
    byte[] p = new byte[n];
    new Random(n).nextBytes(p);
    return p;
  }

  private static byte[] wrap(byte[] payload) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(TarWrapperWriter.headers(payload.length));
    out.writeBytes(payload);
    out.writeBytes(TarWrapperWriter.trailer(payload.length));
    return out.toByteArray();
  }

  @Test
  void ourPaxWrapperIsFoundAndItsPayloadStartsAt1536() throws Exception {
    byte[] p = payload(10_001);
    byte[] blob = wrap(p);
    assertThat((long) blob.length).isEqualTo(TarWrapperWriter.wrappedSize(p.length));
    ByteSource src = new ByteArraySource(blob, "blob");
    TarWrapper w = TarWrapper.detect(src).orElseThrow();
    assertThat(w.kind()).isEqualTo(TarWrapper.Kind.PAX);
    assertThat(w.payloadOffset()).isEqualTo(1536);
    assertThat(w.payloadSize()).isEqualTo(p.length);
    assertThat(w.entryName()).isEqualTo("overlaybd.commit");
    ByteBuffer got = ByteBuffer.allocate(p.length);
    w.payload(src).readFully(0, got);
    assertThat(got.array()).isEqualTo(p);
  }

  @Test
  void ordinaryTarToolsSeeOneFileHoldingThePayload() throws Exception {
    byte[] p = payload(5000);
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(wrap(p)))) {
      TarArchiveEntry e = in.getNextEntry();
      assertThat(e.getName()).isEqualTo("overlaybd.commit");
      assertThat(e.getSize()).isEqualTo(p.length);
      assertThat(in.readAllBytes()).isEqualTo(p);
      assertThat(in.getNextEntry()).isNull();
    }
  }

  @Test
  void aPlainUstarWrapperLikeGosArchiveTarIsFoundAt512() throws Exception {
    byte[] p = payload(7000);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream out = new TarArchiveOutputStream(bytes)) {
      TarArchiveEntry e = new TarArchiveEntry("overlaybd.commit");
      e.setSize(p.length);
      e.setMode(0100444);
      out.putArchiveEntry(e);
      out.write(p);
      out.closeArchiveEntry();
    }
    byte[] blob = bytes.toByteArray();
    // commons-compress writes the POSIX magic; make sure of it so the test means something
    assertThat(new String(blob, 257, 6, "ISO-8859-1")).isEqualTo("ustar\0");
    TarWrapper w = TarWrapper.detect(new ByteArraySource(blob, "b")).orElseThrow();
    assertThat(w.kind()).isEqualTo(TarWrapper.Kind.USTAR);
    assertThat(w.payloadOffset()).isEqualTo(512);
    assertThat(w.payloadSize()).isEqualTo(p.length);
  }

  @Test
  void gnuTarsAndBadChecksumsAreNotWrappers() throws Exception {
    byte[] blob = wrap(payload(100));
    byte[] gnu = blob.clone();
    System.arraycopy("ustar  \0".getBytes("ISO-8859-1"), 0, gnu, 257, 8);
    assertThat(TarWrapper.detect(new ByteArraySource(gnu, "b"))).isEmpty();
    byte[] bad = blob.clone();
    bad[0] ^= 1;
    assertThat(TarWrapper.detect(new ByteArraySource(bad, "b"))).isEmpty();
    assertThat(TarWrapper.detect(new ByteArraySource(new byte[100], "b"))).isEmpty();
  }

  @Test
  void aPayloadLargerThanTheBlobIsAnError() {
    byte[] blob = wrap(payload(10_000));
    byte[] cut = Arrays.copyOf(blob, 4000);
    assertThatThrownBy(() -> TarWrapper.detect(new ByteArraySource(cut, "cut-blob")))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("cut-blob")
        .hasMessageContaining("does not fit");
  }
}
