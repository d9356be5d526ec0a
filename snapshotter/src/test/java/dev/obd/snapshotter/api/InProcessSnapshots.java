package dev.obd.snapshotter.api;

import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.snapshotter.fs.Trees;
import dev.obd.snapshotter.overlay.OverlaySnapshotter;
import dev.obd.snapshotter.snapshots.Snapshotter;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The Snapshots service as the daemon serves it (strict request parsing, the RPC observer, the
 * service) over grpc-java's in-process transport, backed by the real {@link OverlaySnapshotter} on
 * a fresh temporary root for each test. Nothing here needs root: Prepare and View only return
 * mounts, nothing is mounted, and the attacher refuses every device, so that a container on an
 * OverlayBD layer fails the way an attach failure does. Register it with
 * {@code @RegisterExtension}: it serves before the test's own {@code @BeforeEach} methods run, and
 * stops the server, closes the snapshotter and deletes the root after its {@code @AfterEach}
 * methods.
 */
final class InProcessSnapshots implements BeforeEachCallback, AfterEachCallback {
  /** Generous: the machine is shared; no call here should take more than milliseconds. */
  static final long DEADLINE_SECONDS = 30;

  private final UnaryOperator<Snapshotter> served;
  private Path root;
  private Snapshotter snapshotter;
  private Server server;
  private ManagedChannel channel;

  /** Serves the snapshotter as it is. */
  InProcessSnapshots() {
    this(UnaryOperator.identity());
  }

  /** Serves the snapshotter as {@code served} wraps it. */
  InProcessSnapshots(UnaryOperator<Snapshotter> served) {
    this.served = served;
  }

  @Override
  public void beforeEach(ExtensionContext context) throws IOException {
    root = Files.createTempDirectory("obd-in-process-");
    snapshotter =
        OverlaySnapshotter.open(
            root.resolve("root"),
            false,
            List.of(),
            OverlaySnapshotter.BlockSupport.withoutDevices(
                "this test host attaches no devices", root.resolve("record-trace"), List.of()));
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .addService(
                ServerInterceptors.intercept(
                    StrictRequestParsing.apply(
                        new SnapshotsService(served.apply(snapshotter)).bindService()),
                    new RpcObserver(null)))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).build();
  }

  /** The snapshotter's root directory (its database and {@code snapshots/}). */
  Path snapshotterRoot() {
    return root.resolve("root");
  }

  ManagedChannel channel() {
    return channel;
  }

  /** A blocking stub whose calls have a deadline. */
  SnapshotsGrpc.SnapshotsBlockingStub stub() {
    return SnapshotsGrpc.newBlockingStub(channel)
        .withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
  }

  /** The messages of a List answer, all read. */
  static List<ListSnapshotsResponse> messages(Iterator<ListSnapshotsResponse> answer) {
    List<ListSnapshotsResponse> messages = new ArrayList<>();
    answer.forEachRemaining(messages::add);
    return messages;
  }

  /** The names in a List answer, in the order they came. */
  static List<String> names(Iterator<ListSnapshotsResponse> answer) {
    return messages(answer).stream()
        .flatMap(m -> m.getInfoList().stream())
        .map(Info::getName)
        .toList();
  }

  @Override
  public void afterEach(ExtensionContext context) throws IOException, InterruptedException {
    try {
      if (channel != null) {
        channel.shutdownNow();
      }
      if (server != null) {
        server.shutdownNow();
        server.awaitTermination(DEADLINE_SECONDS, TimeUnit.SECONDS);
      }
    } finally {
      if (snapshotter != null) {
        snapshotter.close();
      }
      Trees.deleteRecursively(root);
    }
  }

  /** What a test does in place of one snapshotter call: its own work, then maybe the real call. */
  @FunctionalInterface
  interface Interception {
    Object call(String method, Object[] args, Callable<Object> real) throws Exception;
  }

  /**
   * {@code real} with every call going through {@code interception}, which sees the method's name
   * and arguments. Exceptions thrown by the real call reach the adapter unchanged.
   */
  static UnaryOperator<Snapshotter> intercepting(Interception interception) {
    return real ->
        (Snapshotter)
            Proxy.newProxyInstance(
                Snapshotter.class.getClassLoader(),
                new Class<?>[] {Snapshotter.class},
                (proxy, method, args) -> {
                  Object[] a = args == null ? new Object[0] : args;
                  Callable<Object> call =
                      () -> {
                        try {
                          return method.invoke(real, a);
                        } catch (InvocationTargetException e) {
                          if (e.getCause() instanceof RuntimeException r) {
                            throw r;
                          }
                          throw (Error) e.getCause();
                        }
                      };
                  return interception.call(method.getName(), a, call);
                });
  }
}
