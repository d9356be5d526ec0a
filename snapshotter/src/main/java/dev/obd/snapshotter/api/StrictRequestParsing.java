package dev.obd.snapshotter.api;

import io.grpc.MethodDescriptor;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.InputStream;

/**
 * Makes an undecodable request (for example a label that is not valid UTF-8) fail with
 * INVALID_ARGUMENT, which is what it is, instead of grpc-java's INTERNAL, which would suggest a bug
 * in the daemon.
 */
public final class StrictRequestParsing {
  private StrictRequestParsing() {}

  public static ServerServiceDefinition apply(ServerServiceDefinition service) {
    ServerServiceDefinition.Builder b =
        ServerServiceDefinition.builder(service.getServiceDescriptor().getName());
    for (ServerMethodDefinition<?, ?> m : service.getMethods()) {
      add(b, m);
    }
    return b.build();
  }

  private static <Q, R> void add(
      ServerServiceDefinition.Builder b, ServerMethodDefinition<Q, R> m) {
    MethodDescriptor<Q, R> d = m.getMethodDescriptor();
    b.addMethod(
        d.toBuilder().setRequestMarshaller(strict(d.getRequestMarshaller())).build(),
        m.getServerCallHandler());
  }

  private static <T> MethodDescriptor.Marshaller<T> strict(MethodDescriptor.Marshaller<T> inner) {
    return new MethodDescriptor.Marshaller<>() {
      @Override
      public InputStream stream(T value) {
        return inner.stream(value);
      }

      @Override
      public T parse(InputStream stream) {
        try {
          return inner.parse(stream);
        } catch (StatusRuntimeException e) {
          if (e.getStatus().getCode() != Status.Code.INTERNAL) {
            throw e;
          }
          Throwable cause = e.getCause() != null ? e.getCause() : e;
          throw Status.INVALID_ARGUMENT
              .withDescription("malformed request: " + cause.getMessage())
              .withCause(cause)
              .asRuntimeException();
        }
      }
    };
  }
}
