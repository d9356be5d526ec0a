package dev.obd.snapshotter.api;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.metrics.SnapshotterMetrics;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Observes every RPC once, when it finishes, so that no RPC implementation repeats this work: it
 * records the call's latency and outcome in the metrics (when enabled) and logs it: at debug level
 * the method, the key, name and parent it named (cut to a few hundred characters: see {@link
 * Excerpt}), its duration and outcome; at warning level, with the cause chain, a call that failed
 * for a reason containerd cannot classify (a bug or an environment problem rather than a client
 * error). Calls that start while it is {@linkplain #mute muted} (the daemon's own warm-up calls)
 * run through the same code but are neither recorded nor logged. Thread-safe.
 */
public final class RpcObserver implements ServerInterceptor {
  private static final Logger LOG = Logger.getLogger("dev.obd.snapshotter.rpc");

  private final SnapshotterMetrics metrics;
  private volatile boolean muted;

  /**
   * @param metrics where to record calls, or null when metrics are off
   */
  public RpcObserver(SnapshotterMetrics metrics) {
    this.metrics = metrics;
  }

  /** Calls starting from now on are not observed, until {@link #unmute}. */
  public void mute() {
    muted = true;
  }

  /** Calls starting from now on are observed. */
  public void unmute() {
    muted = false;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    boolean observed = !muted;
    long start = System.nanoTime();
    String method = call.getMethodDescriptor().getBareMethodName();
    Object[] request = new Object[1];
    ServerCall<Q, R> logged =
        new SimpleForwardingServerCall<>(call) {
          @Override
          public void close(Status status, Metadata trailers) {
            if (observed) {
              long nanos = System.nanoTime() - start;
              if (metrics != null) {
                // upstream names the List RPC after the Go method behind it
                metrics.record(method.equals("List") ? "Walk" : method, !status.isOk(), nanos);
              }
              log(method, request[0], status, nanos);
            }
            super.close(status, trailers);
          }
        };
    return new SimpleForwardingServerCallListener<>(next.startCall(logged, headers)) {
      @Override
      public void onMessage(Q message) {
        request[0] = message;
        super.onMessage(message);
      }
    };
  }

  private static void log(String method, Object request, Status status, long nanos) {
    boolean unexpected =
        status.getCode() == Status.Code.UNKNOWN || status.getCode() == Status.Code.INTERNAL;
    Level level = unexpected ? Level.WARNING : Level.FINE;
    if (!LOG.isLoggable(level)) {
      return;
    }
    StringBuilder line = new StringBuilder(method);
    if (request instanceof Message m) {
      appendField(line, m, "key");
      appendField(line, m, "name");
      appendField(line, m, "parent");
    }
    line.append(String.format(Locale.ROOT, " took %.3f ms", nanos / 1e6));
    if (!status.isOk()) {
      line.append(": ").append(status.getCode());
      if (status.getDescription() != null) {
        line.append(": ").append(status.getDescription());
      }
    }
    LOG.log(level, line.toString(), unexpected ? status.getCause() : null);
  }

  private static void appendField(StringBuilder line, Message m, String field) {
    FieldDescriptor f = m.getDescriptorForType().findFieldByName(field);
    if (f != null && f.getType() == FieldDescriptor.Type.STRING) {
      String value = (String) m.getField(f);
      line.append(' ').append(field).append("=\"").append(Excerpt.of(value)).append('"');
    }
  }
}
