package dev.obd.snapshotter.api;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.InputStream;

/**
 * Makes an undecodable request (for example a label that is not valid UTF-8) fail with
 * INVALID_ARGUMENT naming the problem, which is what it is. grpc-java would report UNKNOWN
 * "Application error processing RPC", suggesting a bug in the daemon.
 *
 * <p>grpc-java turns any exception thrown while decoding into that UNKNOWN, so the decoder here
 * does not throw: it records the failure for the current thread and returns the message type's
 * default instance; the interceptor, which receives that message on the same thread right away,
 * sees the record and closes the call with INVALID_ARGUMENT instead of passing the message on.
 */
public final class StrictRequestParsing implements ServerInterceptor {
  private static final ThreadLocal<Throwable> FAILURE = new ThreadLocal<>();

  private StrictRequestParsing() {}

  /** {@code service} with lenient decoders and the interceptor that rejects what they flagged. */
  public static ServerServiceDefinition apply(ServerServiceDefinition service) {
    ServerServiceDefinition.Builder b =
        ServerServiceDefinition.builder(service.getServiceDescriptor().getName());
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      add(b, m);
    }
    return ServerInterceptors.intercept(b.build(), new StrictRequestParsing());
  }

  private static <Q, R> void add(
      ServerServiceDefinition.Builder b, ServerMethodDefinition<Q, R> m) {
    MethodDescriptor<Q, R> d = m.getMethodDescriptor();
    MethodDescriptor.Marshaller<Q> inner = d.getRequestMarshaller();
    if (!(inner instanceof MethodDescriptor.PrototypeMarshaller<Q> proto)) {
      b.addMethod(m);
      return;
    }
    MethodDescriptor.Marshaller<Q> flagging =
        new MethodDescriptor.Marshaller<>() {
          @Override
          public InputStream stream(Q value) {
            return inner.stream(value);
          }

          @Override
          public Q parse(InputStream stream) {
            try {
              return inner.parse(stream);
            } catch (RuntimeException e) {
              FAILURE.set(e.getCause() != null ? e.getCause() : e);
              return proto.getMessagePrototype();
            }
          }
        };
    b.addMethod(d.toBuilder().setRequestMarshaller(flagging).build(), m.getServerCallHandler());
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    ServerCall.Listener<Q> delegate = next.startCall(call, headers);
    return new ServerCall.Listener<>() {
      private boolean rejected;

      @Override
      public void onMessage(Q message) {
        Throwable failure = FAILURE.get();
        if (failure != null) {
          FAILURE.remove();
          rejected = true;
          call.close(
              Status.INVALID_ARGUMENT
                  .withDescription("malformed request: " + failure.getMessage())
                  .withCause(failure),
              new Metadata());
          return;
        }
        if (!rejected) {
          delegate.onMessage(message);
        }
      }

      @Override
      public void onHalfClose() {
        if (!rejected) {
          delegate.onHalfClose();
        }
      }

      @Override
      public void onCancel() {
        delegate.onCancel();
      }

      @Override
      public void onComplete() {
        delegate.onComplete();
      }

      @Override
      public void onReady() {
        if (!rejected) {
          delegate.onReady();
        }
      }
    };
  }
}
