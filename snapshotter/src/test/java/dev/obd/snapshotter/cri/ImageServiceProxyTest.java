package dev.obd.snapshotter.cri;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.proto.cri.v1.Image;
import dev.obd.proto.cri.v1.ImageServiceGrpc;
import dev.obd.proto.cri.v1.ImageSpec;
import dev.obd.proto.cri.v1.ImageStatusRequest;
import dev.obd.proto.cri.v1.ImageStatusResponse;
import dev.obd.proto.cri.v1.ListImagesRequest;
import dev.obd.proto.cri.v1.ListImagesResponse;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.proto.cri.v1.PullImageResponse;
import dev.obd.proto.cri.v1.RemoveImageRequest;
import dev.obd.proto.cri.v1.RemoveImageResponse;
import dev.obd.snapshotter.device.CredentialPush;
import dev.obd.snapshotter.device.PullCredential;
import dev.obd.testsupport.grpc.RawBytes;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import io.grpc.CallOptions;
import io.grpc.Context;
import io.grpc.HandlerRegistry;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CRI image proxy between a kubelet-side client and a stand-in for containerd's CRI, each a
 * real gRPC server on its own unix socket: what containerd answers, the caller gets, byte for byte,
 * with status and trailers; what the caller sends (metadata, deadline, cancellation), containerd
 * gets; and a pull's credentials are handed over before containerd sees the pull.
 */
class ImageServiceProxyTest {
  private static final String SECRET = "proxy-Pa55";
  private static final Metadata.Key<String> TRACE =
      Metadata.Key.of("x-trace", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> DETAIL =
      Metadata.Key.of("x-detail", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<byte[]> DETAIL_BIN =
      Metadata.Key.of("x-detail-bin", Metadata.BINARY_BYTE_MARSHALLER);

  @TempDir Path dir;
  private EventLoopGroup group;
  private Server containerd;
  private Server proxyServer;
  private CriImageProxy proxy;
  private UnixSocketChannel kubelet;
  private final List<String> events = new CopyOnWriteArrayList<>();
  private final AtomicReference<Metadata> containerdHeaders = new AtomicReference<>();
  private final AtomicLong containerdDeadlineMillis = new AtomicLong(-1);
  private final CountDownLatch pullCancelled = new CountDownLatch(1);
  private volatile boolean holdPulls;

  /** containerd's CRI ImageService, as far as these tests need it. */
  private final class FakeCri extends ImageServiceGrpc.ImageServiceImplBase {
    @Override
    public void listImages(ListImagesRequest req, StreamObserver<ListImagesResponse> out) {
      out.onNext(
          ListImagesResponse.newBuilder()
              .addImages(Image.newBuilder().setId("sha256:1").addRepoTags("a:1").setSize(7))
              .build());
      out.onCompleted();
    }

    @Override
    public void imageStatus(ImageStatusRequest req, StreamObserver<ImageStatusResponse> out) {
      if (req.getImage().getImage().equals("missing")) {
        Metadata trailers = new Metadata();
        trailers.put(DETAIL, "looked in k8s.io");
        trailers.put(DETAIL_BIN, new byte[] {0, 1, 2, (byte) 0xff});
        out.onError(
            Status.NOT_FOUND
                .withDescription("image \"missing\": not found")
                .asRuntimeException(trailers));
        return;
      }
      out.onNext(
          ImageStatusResponse.newBuilder()
              .setImage(Image.newBuilder().setId("sha256:2"))
              .putInfo("k", "v")
              .build());
      out.onCompleted();
    }

    @Override
    public void pullImage(PullImageRequest req, StreamObserver<PullImageResponse> out) {
      events.add(
          "containerd pulls " + req.getImage().getImage() + " as " + req.getAuth().getUsername());
      if (holdPulls) {
        Context.current().addListener(c -> pullCancelled.countDown(), Runnable::run);
        return;
      }
      out.onNext(PullImageResponse.newBuilder().setImageRef("sha256:pulled").build());
      out.onCompleted();
    }

    @Override
    public void removeImage(RemoveImageRequest req, StreamObserver<RemoveImageResponse> out) {
      out.onNext(RemoveImageResponse.getDefaultInstance());
      out.onCompleted();
    }
  }

  /** Records what containerd received with each call. */
  private final ServerInterceptor recorder =
      new ServerInterceptor() {
        @Override
        public <Q, A> ServerCall.Listener<Q> interceptCall(
            ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
          containerdHeaders.set(headers);
          if (Context.current().getDeadline() != null) {
            containerdDeadlineMillis.set(
                Context.current().getDeadline().timeRemaining(TimeUnit.MILLISECONDS));
          }
          return next.startCall(call, headers);
        }
      };

  /** A method newer than this build's CRI definition, answering its request's bytes reversed. */
  private static final HandlerRegistry NEWER_METHODS =
      new HandlerRegistry() {
        @Override
        public ServerMethodDefinition<?, ?> lookupMethod(String name, String authority) {
          if (!name.equals("runtime.v1.ImageService/ImageFsInfo")) {
            return null;
          }
          MethodDescriptor<byte[], byte[]> m = raw(name);
          ServerCallHandler<byte[], byte[]> reverse =
              (ServerCall<byte[], byte[]> call, Metadata headers) -> {
                call.request(1);
                return new ServerCall.Listener<byte[]>() {
                  @Override
                  public void onMessage(byte[] message) {
                    byte[] reversed = new byte[message.length];
                    for (int i = 0; i < message.length; i++) {
                      reversed[i] = message[message.length - 1 - i];
                    }
                    call.sendHeaders(new Metadata());
                    call.sendMessage(reversed);
                    call.close(Status.OK, new Metadata());
                  }
                };
              };
          return ServerMethodDefinition.create(m, reverse);
        }
      };

  private final CredentialPush push =
      new CredentialPush() {
        @Override
        public void push(PullCredential credential, Duration deadline) {
          events.add("pushed " + credential.repositoryName() + " " + credential.username());
        }

        @Override
        public String instance(Duration deadline) {
          return "1@1";
        }
      };

  @BeforeEach
  void start() throws Exception {
    group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
    Path containerdSocket = dir.resolve("containerd.sock");
    containerd =
        NettyServerBuilder.forAddress(new DomainSocketAddress(containerdSocket.toString()))
            .channelType(EpollServerDomainSocketChannel.class)
            .bossEventLoopGroup(group)
            .workerEventLoopGroup(group)
            .addService(ServerInterceptors.intercept(new FakeCri(), recorder))
            .fallbackHandlerRegistry(NEWER_METHODS)
            .build()
            .start();
    proxy =
        CriImageProxy.open(
            containerdSocket, Optional.of(push), Duration.ofHours(1), 16, Duration.ofHours(1));
    Path proxySocket = dir.resolve("cri-image.sock");
    proxyServer =
        NettyServerBuilder.forAddress(new DomainSocketAddress(proxySocket.toString()))
            .channelType(EpollServerDomainSocketChannel.class)
            .bossEventLoopGroup(group)
            .workerEventLoopGroup(group)
            .fallbackHandlerRegistry(proxy.handlers())
            .build()
            .start();
    kubelet = UnixSocketChannel.open(proxySocket, 1);
  }

  @AfterEach
  void stop() throws Exception {
    if (kubelet != null) {
      kubelet.close();
    }
    if (proxyServer != null) {
      proxyServer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (proxy != null) {
      proxy.close();
    }
    if (containerd != null) {
      containerd.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
  }

  private ImageServiceGrpc.ImageServiceBlockingStub stub() {
    return ImageServiceGrpc.newBlockingStub(kubelet.channel())
        .withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private static MethodDescriptor<byte[], byte[]> raw(String name) {
    return MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName(name)
        .setRequestMarshaller(new RawBytes())
        .setResponseMarshaller(new RawBytes())
        .build();
  }

  @Test
  void everyImageServiceMethodIsAnsweredByContainerdAsItAnswered() {
    assertThat(stub().listImages(ListImagesRequest.getDefaultInstance()))
        .isEqualTo(
            ListImagesResponse.newBuilder()
                .addImages(Image.newBuilder().setId("sha256:1").addRepoTags("a:1").setSize(7))
                .build());
    assertThat(
            stub()
                .imageStatus(
                    ImageStatusRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("a:1"))
                        .build()))
        .isEqualTo(
            ImageStatusResponse.newBuilder()
                .setImage(Image.newBuilder().setId("sha256:2"))
                .putInfo("k", "v")
                .build());
    assertThat(
            stub()
                .pullImage(
                    PullImageRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("a:1"))
                        .build())
                .getImageRef())
        .isEqualTo("sha256:pulled");
    assertThat(
            stub()
                .removeImage(
                    RemoveImageRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("a:1"))
                        .build()))
        .isEqualTo(RemoveImageResponse.getDefaultInstance());
  }

  @Test
  void aMethodThisBuildDoesNotKnowIsForwardedAsItsBytes() {
    byte[] answer =
        ClientCalls.blockingUnaryCall(
            kubelet.channel(),
            raw("runtime.v1.ImageService/ImageFsInfo"),
            CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
            new byte[] {1, 2, 3, 0, (byte) 0x80});
    assertThat(answer).containsExactly((byte) 0x80, 0, 3, 2, 1);
  }

  @Test
  void containerdsErrorReachesTheCallerWithItsCodeDescriptionAndTrailers() {
    assertThatThrownBy(
            () ->
                stub()
                    .imageStatus(
                        ImageStatusRequest.newBuilder()
                            .setImage(ImageSpec.newBuilder().setImage("missing"))
                            .build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
              assertThat(e.getStatus().getDescription()).isEqualTo("image \"missing\": not found");
              assertThat(e.getTrailers().get(DETAIL)).isEqualTo("looked in k8s.io");
              assertThat(e.getTrailers().get(DETAIL_BIN)).containsExactly(0, 1, 2, 0xff);
            });
  }

  @Test
  void theCallersMetadataAndDeadlineReachContainerd() {
    Metadata headers = new Metadata();
    headers.put(TRACE, "pod-42");
    ImageServiceGrpc.newBlockingStub(kubelet.channel())
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .withDeadlineAfter(7, TimeUnit.SECONDS)
        .listImages(ListImagesRequest.getDefaultInstance());

    assertThat(containerdHeaders.get().get(TRACE)).isEqualTo("pod-42");
    assertThat(containerdDeadlineMillis.get()).isBetween(4_000L, 7_000L);
  }

  @Test
  void aCallTheCallerGivesUpOnIsCancelledAtContainerd() throws Exception {
    holdPulls = true;
    assertThatThrownBy(
            () ->
                ImageServiceGrpc.newBlockingStub(kubelet.channel())
                    .withDeadlineAfter(500, TimeUnit.MILLISECONDS)
                    .pullImage(
                        PullImageRequest.newBuilder()
                            .setImage(ImageSpec.newBuilder().setImage("slow:1"))
                            .build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));
    assertThat(pullCancelled.await(10, TimeUnit.SECONDS))
        .as("containerd's side of the pull is cancelled")
        .isTrue();
  }

  @Test
  void otherServicesAreNotServed() {
    assertThatThrownBy(
            () ->
                ClientCalls.blockingUnaryCall(
                    kubelet.channel(),
                    raw("runtime.v1.RuntimeService/Version"),
                    CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
                    new byte[0]))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED));
  }

  @Test
  void aPullsCredentialsAreHandedOverBeforeContainerdSeesThePullWhichKeepsThem() {
    stub()
        .pullImage(
            PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage("reg.example:5000/team/app:1"))
                .setAuth(AuthConfig.newBuilder().setUsername("alice").setPassword(SECRET))
                .build());

    assertThat(events)
        .containsExactly(
            "pushed reg.example:5000/team/app alice",
            "containerd pulls reg.example:5000/team/app:1 as alice");
    assertThat(proxy.relay().kept().current())
        .singleElement()
        .satisfies(
            c -> {
              assertThat(c.secret()).isEqualTo(SECRET);
              assertThat(c.toString()).doesNotContain(SECRET);
            });
  }

  @Test
  void aPullRequestThatDoesNotDecodeIsStillContainerdsToAnswer() {
    assertThatThrownBy(
            () ->
                ClientCalls.blockingUnaryCall(
                    kubelet.channel(),
                    raw(ImageServiceProxy.PULL_IMAGE),
                    CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
                    "\u00ff\u00ff\u00ff".getBytes(StandardCharsets.ISO_8859_1)))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            // the stand-in's own answer: grpc-java refuses a request that does not decode so
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNKNOWN));
    assertThat(events).as("nothing pushed").isEmpty();
  }
}
