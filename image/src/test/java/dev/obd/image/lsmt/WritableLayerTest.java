package dev.obd.image.lsmt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteArraySource;
import dev.obd.image.FileByteSource;
import dev.obd.image.LayerFormatException;
import dev.obd.image.layer.LayerStack;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WritableLayerTest {
  private static final int MIB = 1 << 20;

  @TempDir Path tmp;

  private final byte[] lowerContent = new byte[4 * MIB];

  private byte[] lower() throws Exception {
    new Random(1).nextBytes(lowerContent);
    return Layers.committed(
        4 * MIB,
        LayerUuid.random(),
        LayerUuid.NIL,
        List.of(new Layers.Range(0, 8192, lowerContent)));
  }

  private WritableLayer create() throws Exception {
    return WritableLayer.create(
        tmp.resolve("writable_data"),
        tmp.resolve("writable_index"),
        0,
        LayerUuid.random(),
        LayerUuid.NIL);
  }

  private static byte[] readAll(LayerStack s) throws Exception {
    ByteBuffer b = ByteBuffer.allocate((int) s.size());
    s.read(0, b);
    return b.array();
  }

  /** Writes, overwrites and trims; returns the expected disk. */
  private byte[] scribble(LayerStack s) throws Exception {
    byte[] model = lowerContent.clone();
    Random r = new Random(2);
    for (int i = 0; i < 60; i++) {
      int off = r.nextInt(8192 - 64) * 512;
      int len = (1 + r.nextInt(64)) * 512;
      if (i % 5 == 4) {
        s.trim(off, len);
        Arrays.fill(model, off, off + len, (byte) 0);
      } else {
        byte[] d = new byte[len];
        r.nextBytes(d);
        s.write(off, ByteBuffer.wrap(d));
        System.arraycopy(d, 0, model, off, len);
      }
    }
    return model;
  }

  @Test
  void writesAndTrimsOverLowersReadBackAndSurviveReopen() throws Exception {
    byte[] lower = lower();
    byte[] model;
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(create()))) {
      assertThat(s.writable()).isTrue();
      assertThat(s.size()).isEqualTo(4 * MIB); // adopted from the lowers
      model = scribble(s);
      s.flush();
      assertThat(readAll(s)).isEqualTo(model);
    }
    WritableLayer reopened =
        WritableLayer.open(tmp.resolve("writable_data"), tmp.resolve("writable_index"));
    assertThat(reopened.virtualSize()).isEqualTo(4 * MIB); // persisted into the headers
    assertThat(reopened.logEntries()).isEqualTo(60);
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(reopened))) {
      assertThat(readAll(s)).isEqualTo(model);
    }
  }

  @Test
  void sealingTurnsTheDataFileIntoAReadOnlyLayerWithTheSameContent() throws Exception {
    byte[] lower = lower();
    byte[] model;
    WritableLayer up = create();
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(up))) {
      model = scribble(s);
      up.seal();
      assertThatThrownBy(() -> s.write(0, ByteBuffer.allocate(512))).hasMessageContaining("sealed");
    }
    Path sealed = Files.move(tmp.resolve("writable_data"), tmp.resolve("overlaybd.sealed"));
    try (LsmtFile f = LsmtFile.open(FileByteSource.open(sealed))) {
      assertThat(f.header().flags()).isEqualTo(0x03);
      assertThat(f.trailer().flags()).isEqualTo(0x06);
      assertThat(f.index().zeroedCount()).isPositive();
    }
    try (LayerStack s =
        LayerStack.open(
            List.of(new ByteArraySource(lower, "lower"), FileByteSource.open(sealed)),
            Optional.empty())) {
      assertThat(readAll(s)).isEqualTo(model);
    }
    assertThatThrownBy(() -> WritableLayer.open(sealed, tmp.resolve("writable_index")))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("sealed");
  }

  @Test
  void committingCompactsIntoACommittedLayerWithTheSameContent() throws Exception {
    byte[] lower = lower();
    byte[] model;
    Path commit = tmp.resolve("overlaybd.commit");
    LayerUuid uuid = LayerUuid.random();
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(create()))) {
      model = scribble(s);
      try (FileChannel out =
          FileChannel.open(commit, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        s.upper().orElseThrow().commit(out, uuid, null, "msg".getBytes());
      }
    }
    try (LayerStack s =
        LayerStack.open(
            List.of(new ByteArraySource(lower, "lower"), FileByteSource.open(commit)),
            Optional.empty())) {
      assertThat(s.lowers().get(1).trailer().uuid()).isEqualTo(uuid);
      assertThat(s.lowers().get(1).trailer().userTagText()).isEqualTo("msg");
      assertThat(s.lowers().get(1).lsmt().header().flags()).isEqualTo(0x07);
      assertThat(readAll(s)).isEqualTo(model);
    }
  }

  @Test
  void concurrentWritersAndReadersSeeOnlyWholeWrites() throws Exception {
    byte[] lower = lower();
    int threads = 4;
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(create()))) {
      ExecutorService pool = Executors.newFixedThreadPool(threads + 2);
      AtomicBoolean stop = new AtomicBoolean();
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int id = t;
        futures.add(
            pool.submit(
                () -> {
                  // each thread owns the 4 KiB blocks b with b % threads == id
                  for (int round = 1; round <= 20; round++) {
                    for (int b = id; b < 1024; b += threads) {
                      byte[] d = new byte[4096];
                      Arrays.fill(d, (byte) (round + id * 40));
                      s.write(b * 4096L, ByteBuffer.wrap(d));
                    }
                  }
                  return null;
                }));
      }
      for (int t = 0; t < 2; t++) {
        pool.submit(
            () -> {
              Random r = new Random();
              while (!stop.get()) {
                int b = r.nextInt(1024);
                ByteBuffer buf = ByteBuffer.allocate(4096);
                s.read(b * 4096L, buf);
                byte first = buf.get(0);
                for (int i = 1; i < 4096; i++) {
                  if (buf.get(i) != first && !lowerBlock(buf, b)) {
                    throw new AssertionError("torn 4 KiB block " + b);
                  }
                }
              }
              return null;
            });
      }
      for (Future<?> f : futures) {
        f.get();
      }
      stop.set(true);
      pool.shutdown();
      assertThat(pool.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      byte[] all = readAll(s);
      for (int b = 0; b < 1024; b++) {
        assertThat(all[b * 4096 + 4095]).isEqualTo((byte) (20 + (b % threads) * 40));
      }
    }
  }

  private boolean lowerBlock(ByteBuffer buf, int b) {
    return Arrays.equals(buf.array(), Arrays.copyOfRange(lowerContent, b * 4096, b * 4096 + 4096));
  }

  @Test
  void aTornIndexTailIsIgnoredAndOutOfRangeEntriesAreRejected() throws Exception {
    try (WritableLayer up =
        WritableLayer.create(
            tmp.resolve("d"), tmp.resolve("i"), 4 * MIB, LayerUuid.random(), LayerUuid.NIL)) {
      up.write(0, ByteBuffer.wrap(new byte[4096]));
      up.write(8192, ByteBuffer.wrap(new byte[512]));
    }
    try (RandomAccessFile f = new RandomAccessFile(tmp.resolve("i").toFile(), "rw")) {
      f.seek(f.length());
      f.write(new byte[] {1, 2, 3, 4, 5, 6, 7});
    }
    try (WritableLayer up = WritableLayer.open(tmp.resolve("d"), tmp.resolve("i"))) {
      assertThat(up.logEntries()).isEqualTo(2);
      up.write(4096, ByteBuffer.wrap(new byte[512])); // appends after the whole entries
    }
    try (WritableLayer up = WritableLayer.open(tmp.resolve("d"), tmp.resolve("i"))) {
      assertThat(up.logEntries()).isEqualTo(3);
    }
    // cut the data file: entries now point past its end
    try (RandomAccessFile f = new RandomAccessFile(tmp.resolve("d").toFile(), "rw")) {
      f.setLength(4096 + 512);
    }
    assertThatThrownBy(() -> WritableLayer.open(tmp.resolve("d"), tmp.resolve("i")))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("entry 0")
        .hasMessageContaining("outside the data file");
  }

  @Test
  void misalignedAndOversizedWritesAreRefused() throws Exception {
    try (WritableLayer up =
        WritableLayer.create(
            tmp.resolve("d"), tmp.resolve("i"), MIB, LayerUuid.random(), LayerUuid.NIL)) {
      assertThatThrownBy(() -> up.write(100, ByteBuffer.allocate(512)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> up.write(MIB - 512, ByteBuffer.allocate(1024)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> up.trim(0, 100)).isInstanceOf(IllegalArgumentException.class);
    }
    assertThatThrownBy(
            () ->
                WritableLayer.create(
                    tmp.resolve("d"), tmp.resolve("i2"), MIB, LayerUuid.NIL, LayerUuid.NIL))
        .isInstanceOf(java.nio.file.FileAlreadyExistsException.class);
  }

  @Test
  void indexAndDataHeadersFollowUpstream() throws Exception {
    LayerUuid parent = LayerUuid.random();
    try (WritableLayer up =
        WritableLayer.create(tmp.resolve("d"), tmp.resolve("i"), MIB, LayerUuid.random(), parent)) {
      assertThat(up.header().flags()).isEqualTo(0x03);
      assertThat(up.header().parentUuid()).isEqualTo(parent);
    }
    byte[] index = Files.readAllBytes(tmp.resolve("i"));
    ByteBuffer b = ByteBuffer.wrap(index).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    assertThat(b.getInt(28)).isEqualTo(0x01);
    assertThat(b.getLong(32)).isEqualTo(4096);
    assertThat(index).hasSize(4096);
  }
}
