package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.DeviceState;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.backstore.it.FaultyProxy.Fault;
import dev.obd.backstore.it.FaultyProxy.Kind;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data plane under registry and network faults, through the real device path of this kernel:
 * obd-backstore serves a converted OverlayBD layer (16 random 2 MiB files in ext4, {@code
 * tar(ZFile(LSMT))}) lazily from a real docker-registry, attached with nbdfuse + a loop device and
 * mounted read-only as ext4. Every test starts with an empty range cache and first shows that the
 * reads after the mount reach the registry. Outages are the real registry stopped and started;
 * slow, truncated, corrupted, 500 and 401 answers come from {@link FaultyProxy}, a loopback proxy
 * of the test in front of the registry that simulates a faulty network or registry on command.
 *
 * <p>What a user must see: EIO within {@code timeouts.readDeadlineMs} (never a hang, never wrong
 * bytes), and the same device and mount reading correctly again once the fault is gone.
 */
class RegistryFaultsTest {
  private static final long REQUEST_MS = 1500;
  private static final long DEADLINE_MS = 4000;

  /**
   * What a read may take beyond the deadline before its EIO reaches the test: the kernel's own
   * hand-offs (ext4, loop, FUSE, nbdfuse) and this 2-core machine's scheduling.
   */
  private static final long SLACK_MS = 700;

  private static final int FILES = 16;
  private static final String REPO = "faults/img";

  @TempDir static Path shared;
  private static TestImages.Built img;
  private static RegistryProcess registry;
  private static FaultyProxy proxy;

  @TempDir Path dir;
  private final List<String> logLines = new ArrayList<>();
  private final Handler capture =
      new Handler() {
        @Override
        public void publish(LogRecord r) {
          synchronized (logLines) {
            logLines.add(r.getMessage());
          }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
      };

  @BeforeAll
  static void startRegistry() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("mkfs.ext4");
    img = TestImages.build(shared.resolve("img"), FILES, 2 << 20, 64L << 20);
    registry =
        new RegistryProcess(shared.resolve("reg"), LocalRegistry.freePort(), (Path) null).start();
    TestImages.push(registry.url(), REPO, img.blob(), img.digest(), null);
    proxy = FaultyProxy.start(registry.url());
    // the first answers of a fresh registry are slow; no test's attach should pay for them
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<byte[]> warm =
        http.send(
            HttpRequest.newBuilder(proxy.url().resolve("/v2/" + REPO + "/blobs/" + img.digest()))
                .header("Range", "bytes=0-65535")
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertThat(warm.statusCode()).isEqualTo(206);
  }

  @AfterAll
  static void stopRegistry() throws IOException {
    if (proxy != null) {
      proxy.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  @BeforeEach
  void captureLogs() {
    Logger.getLogger("").addHandler(capture);
    if (proxy != null) {
      proxy.heal();
    }
  }

  @AfterEach
  void stopCapture() {
    Logger.getLogger("").removeHandler(capture);
  }

  @Test
  void registryStoppedFailsReadsWithEioWithinTheDeadlineAndTheSameMountReadsAgainOnceItReturns()
      throws Exception {
    try (Mounted m = Mounted.start(dir, registry.url().toString())) {
      m.assertReadsReachTheRegistry();
      registry.stop();
      try {
        long ms = m.millisUntilEio("data/file5.bin");
        long whole = m.millisUntilWholeFileFails("data/file9.bin");
        System.out.printf(
            "registry stopped: EIO after %d ms, whole-file read after %d ms (readDeadlineMs %d)%n",
            ms, whole, DEADLINE_MS);
        assertThat(ms).as("ms until EIO, registry stopped").isLessThan(DEADLINE_MS + SLACK_MS);
        assertThat(whole).isLessThan(DEADLINE_MS + SLACK_MS);
        assertThat(logs()).contains("gave up after " + DEADLINE_MS + " ms");
      } finally {
        registry.start();
      }
      m.assertSameDeviceAndMount();
      m.assertReadsCorrectlyAgain("data/file5.bin", "data/file9.bin");
    }
  }

  @Test
  void answersSlowerThanOneAttemptButWithinTheDeadlineAreRetriedAndReadCorrectly()
      throws Exception {
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      proxy.inject(Fault.delay(Duration.ofMillis(200)));
      m.assertReadsCorrectly("data/file5.bin");
      // the next two answers come after one attempt's timeout: retried, then answered in time
      int before = proxy.faulted();
      proxy.injectNext(Fault.delay(Duration.ofMillis(REQUEST_MS + 500)), 2);
      long start = System.nanoTime();
      m.assertReadsCorrectly("data/file9.bin");
      System.out.printf(
          "two answers later than requestMs %d: file read correctly in %d ms%n",
          REQUEST_MS, millisSince(start));
      assertThat(proxy.faulted() - before).isEqualTo(2);
    }
  }

  @Test
  void answersSlowerThanTheDeadlineFailReadsWithEioWithinItAndReadsRecoverWhenFast()
      throws Exception {
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      proxy.inject(Fault.delay(Duration.ofSeconds(30)));
      long ms = m.millisUntilEio("data/file5.bin");
      System.out.printf(
          "answers 30 s late: EIO after %d ms (readDeadlineMs %d)%n", ms, DEADLINE_MS);
      assertThat(ms).isLessThan(DEADLINE_MS + SLACK_MS);
      assertThat(logs()).contains(" answer from " + proxy.url().getAuthority() + " within ");
      proxy.heal();
      m.assertSameDeviceAndMount();
      m.assertReadsCorrectlyAgain("data/file5.bin");
    }
  }

  @Test
  void truncatedBodiesAreRetriedAndNeverReadShort() throws Exception {
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      int before = proxy.faulted();
      proxy.injectNext(Fault.of(Kind.TRUNCATE_AND_CLOSE), 3);
      m.assertReadsCorrectly("data/file5.bin");
      assertThat(proxy.faulted() - before).isEqualTo(3);

      proxy.inject(Fault.of(Kind.TRUNCATE_AND_CLOSE));
      long closed = m.millisUntilEio("data/file9.bin");
      proxy.heal();
      m.assertReadsCorrectlyAgain("data/file9.bin");
      proxy.inject(Fault.of(Kind.TRUNCATE_AND_STALL));
      long stalled = m.millisUntilEio("data/file13.bin");
      System.out.printf(
          "truncated bodies: EIO after %d ms (connection closed), %d ms (connection stalled)%n",
          closed, stalled);
      assertThat(closed).isLessThan(DEADLINE_MS + SLACK_MS);
      assertThat(stalled).isLessThan(DEADLINE_MS + SLACK_MS);
      long hungUp = System.nanoTime();
      while (proxy.openConnections() > 0 && millisSince(hungUp) < 5000) {
        Thread.sleep(50);
      }
      assertThat(proxy.openConnections())
          .as("stalled connections the backstore left open")
          .isZero();
      proxy.heal();
      m.assertReadsCorrectlyAgain("data/file13.bin");
    }
  }

  @Test
  void http500AnswersFailReadsWithEioAtTheDeadlineAndReadsRecoverWhenTheRegistryHeals()
      throws Exception {
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      proxy.injectNext(Fault.of(Kind.ANSWER_500), 2);
      m.assertReadsCorrectly("data/file5.bin");

      proxy.inject(Fault.of(Kind.ANSWER_500));
      long ms = m.millisUntilEio("data/file9.bin");
      System.out.printf("HTTP 500: EIO after %d ms (readDeadlineMs %d)%n", ms, DEADLINE_MS);
      assertThat(ms).isLessThan(DEADLINE_MS + SLACK_MS);
      assertThat(logs()).contains(proxy.url().getAuthority() + " answered 500");
      proxy.heal();
      m.assertReadsCorrectlyAgain("data/file9.bin");
    }
  }

  @Test
  void http401AnswersFailReadsAtOnceNamingTheMissingCredentialsAndReadsRecoverWhenAuthIsOff()
      throws Exception {
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      proxy.inject(Fault.of(Kind.ANSWER_401));
      long ms = m.millisUntilEio("data/file5.bin");
      System.out.printf("HTTP 401: EIO after %d ms%n", ms);
      assertThat(ms).as("a refusal is not retried until the deadline").isLessThan(DEADLINE_MS / 3);
      assertThat(logs())
          .contains("registry requires authentication and no credentials are configured for");
      proxy.heal();
      // a refusal is no outage: the very next read tries again
      m.assertReadsCorrectly("data/file5.bin");
    }
  }

  @Test
  void flippedBytesInTheBlobAreAnErrorNeverWrongBytesAndTheBadRangeIsNotServedAgain()
      throws Exception {
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      // every answer corrupted: the ZFile block CRCs catch it, the reader gets EIO
      proxy.inject(Fault.of(Kind.FLIP_BYTE));
      m.millisUntilEio("data/file5.bin");
      assertThat(logs()).contains("CRC mismatch").contains("also after fetching it again");
      // healed: the corrupted ranges that reached the range cache are fetched again at once
      proxy.heal();
      m.assertReadsCorrectly("data/file5.bin");
      // one corrupted answer: caught and fetched again within the same read
      int before = proxy.faulted();
      proxy.injectNext(Fault.of(Kind.FLIP_BYTE), 1);
      m.assertReadsCorrectly("data/file9.bin");
      assertThat(proxy.faulted() - before).isEqualTo(1);
    }
  }

  @Test
  void sixteenParallelReadersReadEveryFileCorrectlyWhileSomeAnswersAreCorrupted() throws Exception {
    List<String> files = new ArrayList<>();
    for (int i = 0; i < FILES; i++) {
      files.add("data/file" + i + ".bin");
    }
    try (Mounted m = Mounted.start(dir, proxy.url().toString())) {
      proxy.inject(Fault.delay(Duration.ofMillis(20)));
      assertThat(m.readInParallel(files)).as("wrong or failed reads").isEmpty();
    }
    // a fresh daemon and cache, and a network that corrupts 10 answers among the readers
    try (Mounted m = Mounted.start(dir.resolve("again"), proxy.url().toString())) {
      m.assertReadsReachTheRegistry();
      proxy.injectNext(Fault.of(Kind.FLIP_BYTE), 10);
      List<String> failures = m.readInParallel(files);
      assertThat(failures)
          .as("reads that returned wrong bytes")
          .noneMatch(f -> f.contains("sha256"));
      proxy.heal();
      assertThat(m.readInParallel(files)).as("reads after healing").isEmpty();
      System.out.printf(
          "16 parallel readers, 10 corrupted answers: %d of %d files failed with EIO, none"
              + " read wrong bytes; all %d read correctly after healing%n",
          failures.size(), files.size(), files.size());
    }
  }

  private String logs() {
    synchronized (logLines) {
      return String.join("\n", logLines);
    }
  }

  private static long millisSince(long startNanos) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
  }

  /** A daemon with an empty cache and one device of the test image, mounted read-only. */
  private static final class Mounted implements AutoCloseable {
    private final Path daemonDir;
    private final BackstoreDaemon daemon;
    private final BackstoreClient client;
    private final Mounts mounts = new Mounts();
    private final DeviceInfo device;
    private final Path mnt;
    private final String mountSource;
    private final long servedBeforeAttach;
    private boolean closed;

    private Mounted(Path dir, String registryUrl) throws Exception {
      daemonDir = dir.resolve("d");
      servedBeforeAttach = TestImages.bytesServed(registry.log(), img.digest());
      daemon =
          BackstoreDaemon.start(
              Fixture.readConfig(
                  Fixture.daemonConfig(
                      daemonDir,
                      Map.of(
                          "timeouts",
                          Map.of(
                              "connectMs",
                              500,
                              "requestMs",
                              REQUEST_MS,
                              "readDeadlineMs",
                              DEADLINE_MS)))));
      try {
        client = Fixture.client(daemonDir);
        Path config =
            Fixture.imageConfig(
                dir.resolve("snap/config.v1.json"),
                Map.of(
                    "repoBlobUrl", registryUrl + "/v2/" + REPO + "/blobs",
                    "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
                    "upper", Map.of(),
                    "resultFile", dir.resolve("snap/init-debug.log").toString()));
        device = client.add(config, Duration.ofSeconds(30));
        mnt = Files.createDirectories(dir.resolve("mnt"));
        mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", device.device());
        mountSource = mountSourceOf(mnt);
      } catch (Exception | Error e) {
        close();
        throw e;
      }
    }

    static Mounted start(Path dir, String registryUrl) throws Exception {
      return new Mounted(dir, registryUrl);
    }

    /**
     * Not everything was fetched at attach and mount: the registry served a small part of the blob,
     * and reading a file fetches more.
     */
    void assertReadsReachTheRegistry() throws Exception {
      long atMount = TestImages.bytesServed(registry.log(), img.digest()) - servedBeforeAttach;
      long before = atMount;
      assertReadsCorrectly("data/file0.bin");
      long after = TestImages.bytesServed(registry.log(), img.digest()) - servedBeforeAttach;
      System.out.printf(
          "registry bytes so far %d of a %d-byte blob; reading one 2 MiB file fetched %d more%n",
          atMount, img.blobSize(), after - before);
      assertThat(atMount).as("fetched up to the mount").isLessThan(img.blobSize() / 4);
      assertThat(after - before).as("fetched by reading one 2 MiB file").isGreaterThan(1L << 20);
    }

    void assertReadsCorrectly(String... files) throws Exception {
      for (String f : files) {
        assertThat(Fixture.sha256(mnt.resolve(f)))
            .as(f)
            .isEqualTo(Fixture.sha256(img.source().resolve(f)));
      }
    }

    /**
     * Reads 4 KiB in the middle of {@code file} (away from what read-ahead of earlier files may
     * have cached); asserts EIO and returns how long it took.
     */
    long millisUntilEio(String file) {
      long start = System.nanoTime();
      assertThatThrownBy(
              () -> {
                try (FileChannel ch =
                    FileChannel.open(mnt.resolve(file), StandardOpenOption.READ)) {
                  ch.read(ByteBuffer.allocate(4096), 1 << 20);
                }
              })
          .as("reading " + file)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Input/output error");
      return millisSince(start);
    }

    /** Reads all of {@code file}; asserts EIO and returns how long it took. */
    long millisUntilWholeFileFails(String file) {
      long start = System.nanoTime();
      assertThatThrownBy(() -> Files.readAllBytes(mnt.resolve(file)))
          .as("reading " + file)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Input/output error");
      return millisSince(start);
    }

    /**
     * Reads {@code files} once the fault is gone: an endpoint on which a read gave up fails reads
     * at once for a second (see RegistryClient's outage hold), so reads may fail that long; after
     * that they read correctly. Never wrong bytes, at any time.
     */
    void assertReadsCorrectlyAgain(String... files) throws Exception {
      long start = System.nanoTime();
      for (String f : files) {
        String want = Fixture.sha256(img.source().resolve(f));
        while (true) {
          try {
            assertThat(Fixture.sha256(mnt.resolve(f))).as(f).isEqualTo(want);
            break;
          } catch (IOException e) {
            if (millisSince(start) > 3000) {
              throw new AssertionError(f + " still fails 3 s after the fault is gone", e);
            }
            Thread.sleep(100);
          }
        }
      }
      System.out.printf(
          "read correctly again %d ms after the fault was gone%n", millisSince(start));
    }

    /** Reads {@code files} with 16 threads at once; returns what went wrong, one line each. */
    List<String> readInParallel(List<String> files) throws Exception {
      ExecutorService pool = Executors.newFixedThreadPool(16);
      try {
        List<Future<String>> results = new ArrayList<>();
        for (String f : files) {
          results.add(
              pool.submit(
                  () -> {
                    try {
                      String got = Fixture.sha256(mnt.resolve(f));
                      String want = Fixture.sha256(img.source().resolve(f));
                      return got.equals(want) ? null : f + ": sha256 " + got + ", expected " + want;
                    } catch (IOException e) {
                      return f + ": " + e.getMessage();
                    }
                  }));
        }
        List<String> failures = new ArrayList<>();
        for (Future<String> r : results) {
          String failure = r.get(2, TimeUnit.MINUTES);
          if (failure != null) {
            failures.add(failure);
          }
        }
        return failures;
      } finally {
        pool.shutdownNow();
      }
    }

    /** The device is still attached under its name and the filesystem still mounted from it. */
    void assertSameDeviceAndMount() throws Exception {
      DeviceInfo now = client.get(device.id(), Duration.ofSeconds(5));
      assertThat(now.device()).isEqualTo(device.device());
      assertThat(now.state()).isEqualTo(DeviceState.ATTACHED);
      assertThat(mountSourceOf(mnt)).isEqualTo(mountSource);
    }

    private static String mountSourceOf(Path mnt) throws IOException {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ");
        if (f[4].equals(mnt.toString())) {
          int dash = List.of(f).indexOf("-");
          return f[2] + " " + f[dash + 2];
        }
      }
      throw new AssertionError(mnt + " is not mounted");
    }

    @Override
    public void close() throws IOException {
      if (closed) {
        return;
      }
      closed = true;
      try {
        mounts.close();
        if (device != null) {
          client.remove(device.device(), Duration.ofSeconds(30));
        }
      } finally {
        if (daemon != null) {
          daemon.close();
        }
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
    }
  }
}
