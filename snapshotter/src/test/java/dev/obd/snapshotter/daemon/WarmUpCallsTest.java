package dev.obd.snapshotter.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.api.SnapshotsService;
import dev.obd.snapshotter.api.StrictRequestParsing;
import dev.obd.snapshotter.snapshots.Snapshotter;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The warm-up's own client, against the daemon's real server on a unix socket and a real
 * snapshotter on a scratch root (nothing is mounted: Prepare and View only answer mounts).
 */
class WarmUpCallsTest {
  @TempDir Path dir;

  @Test
  void everyRpcSucceedsOverRealConnectionsAndLeavesNoSnapshotBehind() throws Exception {
    try (WarmUp.Scratch scratch = WarmUp.openScratch(List.of())) {
      UnixSocketServer server = serve(scratch.snapshotter());
      try {
        new WarmUpCalls(server.boundAt()).run(3);
        List<String> left = new ArrayList<>();
        scratch.snapshotter().walk(List.of(), info -> left.add(info.name()));
        assertThat(left).as("snapshots the warm-up left behind").isEmpty();
      } finally {
        server.shutdown(1_000);
      }
    }
  }

  @Test
  void aServerAnsweringOtherwiseThanExpectedFailsTheWarmUpWithTheCall() throws Exception {
    try (WarmUp.Scratch scratch = WarmUp.openScratch(List.of())) {
      // the committed snapshot of the first round exists already: the round's Commit must fail
      scratch.snapshotter().prepare("x", "", Map.of());
      scratch.snapshotter().commit("warm-up-0-0-c", "x", Map.of(), "");
      UnixSocketServer server = serve(scratch.snapshotter());
      try {
        assertThatThrownBy(() -> new WarmUpCalls(server.boundAt()).run(1))
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("expected OK, got ALREADY_EXISTS");
      } finally {
        server.shutdown(1_000);
      }
    }
  }

  @Test
  void aServerThatNeverAnswersFailsTheWarmUpAtItsDeadline() throws Exception {
    Path socket = dir.resolve("silent.sock");
    ServerSocketChannel silent = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    Thread acceptor = null;
    try {
      silent.bind(UnixDomainSocketAddress.of(socket));
      acceptor = new Thread(() -> acceptAndNeverAnswer(silent));
      acceptor.start();
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> new WarmUpCalls(socket, 1).run(1))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("did not finish within 1 s");
      assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).isLessThan(10);
    } finally {
      silent.close();
      if (acceptor != null) {
        acceptor.join(5_000);
      }
    }
    assertThat(acceptor.isAlive()).as("the silent server's thread").isFalse();
  }

  /** Accepts connections and reads from them, answering nothing, until {@code silent} closes. */
  private static void acceptAndNeverAnswer(ServerSocketChannel silent) {
    List<SocketChannel> held = new ArrayList<>();
    try {
      while (true) {
        SocketChannel c = silent.accept();
        held.add(c);
        c.read(ByteBuffer.allocate(1024));
      }
    } catch (IOException e) {
      held.forEach(WarmUpCallsTest::closeQuietly);
    }
  }

  private UnixSocketServer serve(Snapshotter snapshotter) throws IOException {
    return UnixSocketServer.bind(
        dir.resolve("s.sock"),
        List.of(StrictRequestParsing.apply(new SnapshotsService(snapshotter).bindService())));
  }

  private static void closeQuietly(SocketChannel c) {
    try {
      c.close();
    } catch (IOException e) {
      // the test is over; the channel goes with the process
    }
  }
}
