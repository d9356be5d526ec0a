package dev.obd.snapshotter.cri;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.HandlerRegistry;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The CRI ImageService, forwarded to containerd's: every method of {@code runtime.v1.ImageService}
 * (those this build knows and any newer one) is relayed as bytes, request and response unchanged,
 * with the caller's metadata, deadline and cancellation going one way and containerd's headers,
 * status and trailers the other. Only PullImage's request is looked at, by {@code beforePull}, and
 * only before it is forwarded. Other services are not served (UNIMPLEMENTED).
 *
 * <p>Served as the fallback registry of a gRPC server, so that no method needs to be declared.
 * Thread-safe.
 */
final class ImageServiceProxy extends HandlerRegistry {
  private static final Logger LOG = Logger.getLogger(ImageServiceProxy.class.getName());
  static final String SERVICE = "runtime.v1.ImageService";
  static final String PULL_IMAGE = SERVICE + "/PullImage";

  /**
   * Headers the gRPC transports write themselves on each hop; relayed ones would be sent twice or
   * be wrong (a timeout is relayed as the call's deadline instead).
   */
  private static final List<String> HOP_HEADERS =
      List.of(
          "content-type",
          "te",
          "user-agent",
          "grpc-timeout",
          "grpc-encoding",
          "grpc-accept-encoding",
          "grpc-status",
          "grpc-message");

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new Bytes();

  /** The ImageService has five methods; a caller naming thousands more must not grow the map. */
  private static final int MAX_REMEMBERED_METHODS = 64;

  private final Channel containerd;
  private final Consumer<byte[]> beforePull;
  private final Map<String, ServerMethodDefinition<byte[], byte[]>> methods =
      new ConcurrentHashMap<>();

  /**
   * @param containerd a channel to containerd's socket
   * @param beforePull called with each PullImage request's bytes before they are forwarded
   */
  ImageServiceProxy(Channel containerd, Consumer<byte[]> beforePull) {
    this.containerd = containerd;
    this.beforePull = beforePull;
  }

  @Override
  public ServerMethodDefinition<?, ?> lookupMethod(String fullMethodName, String authority) {
    if (!fullMethodName.startsWith(SERVICE + "/")
        || fullMethodName.length() == SERVICE.length() + 1) {
      return null;
    }
    ServerMethodDefinition<byte[], byte[]> known = methods.get(fullMethodName);
    if (known != null) {
      return known;
    }
    ServerMethodDefinition<byte[], byte[]> defined = define(fullMethodName);
    // method names come from the caller: remember only as many as the service could have
    if (methods.size() < MAX_REMEMBERED_METHODS) {
      methods.putIfAbsent(fullMethodName, defined);
    }
    return defined;
  }

  private ServerMethodDefinition<byte[], byte[]> define(String fullMethodName) {
    MethodDescriptor<byte[], byte[]> method =
        MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNKNOWN)
            .setFullMethodName(fullMethodName)
            .setRequestMarshaller(BYTES)
            .setResponseMarshaller(BYTES)
            .build();
    return ServerMethodDefinition.create(method, new Forward(method.getFullMethodName()));
  }

  /** One call relayed: the caller's side ({@code in}) to containerd's ({@code out}). */
  private final class Forward implements ServerCallHandler<byte[], byte[]> {
    private final boolean pull;

    Forward(String fullMethodName) {
      this.pull = fullMethodName.equals(PULL_IMAGE);
    }

    @Override
    public ServerCall.Listener<byte[]> startCall(ServerCall<byte[], byte[]> in, Metadata headers) {
      CallOptions options = CallOptions.DEFAULT;
      Deadline deadline = Context.current().getDeadline();
      if (deadline != null) {
        options = options.withDeadline(deadline);
      }
      ClientCall<byte[], byte[]> out = containerd.newCall(in.getMethodDescriptor(), options);
      out.start(
          new ClientCall.Listener<>() {
            @Override
            public void onHeaders(Metadata h) {
              in.sendHeaders(relayed(h));
            }

            @Override
            public void onMessage(byte[] message) {
              in.sendMessage(message);
              out.request(1);
            }

            @Override
            public void onClose(Status status, Metadata trailers) {
              // the status as containerd sent it; a cause is local and never goes on the wire
              in.close(
                  Status.fromCode(status.getCode()).withDescription(status.getDescription()),
                  relayed(trailers));
            }
          },
          relayed(headers));
      out.request(1);
      in.request(1);
      return new ServerCall.Listener<>() {
        private boolean first = true;

        @Override
        public void onMessage(byte[] message) {
          if (pull && first) {
            try {
              beforePull.accept(message);
            } catch (RuntimeException e) {
              // a bug: the pull goes on as it would without the proxy; never e's message (the
              // request holds a secret)
              LOG.warning(
                  "PullImage: taking its credentials failed ("
                      + e.getClass().getName()
                      + "); forwarded as it is");
            }
          }
          first = false;
          out.sendMessage(message);
          in.request(1);
        }

        @Override
        public void onHalfClose() {
          out.halfClose();
        }

        @Override
        public void onCancel() {
          out.cancel("the caller cancelled the call", null);
        }
      };
    }
  }

  private static Metadata relayed(Metadata from) {
    Metadata m = new Metadata();
    m.merge(from);
    for (String name : HOP_HEADERS) {
      m.discardAll(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER));
    }
    return m;
  }

  /** A message's bytes as they are. */
  private static final class Bytes implements MethodDescriptor.Marshaller<byte[]> {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
