package dev.obd.testsupport.containerd;

import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.proto.cri.v1.Image;
import dev.obd.proto.cri.v1.ImageServiceGrpc;
import dev.obd.proto.cri.v1.ImageSpec;
import dev.obd.proto.cri.v1.ListImagesRequest;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.proto.cri.v1.RemoveImageRequest;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * kubelet's side of image pulls: the CRI ImageService on containerd's own socket (or on an image
 * endpoint in front of it, such as obd-snapshotter's CRI proxy). Debian has no crictl, so the tests
 * speak the API directly, as kubelet does.
 */
public final class CriClient implements AutoCloseable {
  private final UnixSocketChannel channel;

  public CriClient(Path imageServiceSocket) {
    channel = UnixSocketChannel.open(imageServiceSocket, 1);
  }

  private ImageServiceGrpc.ImageServiceBlockingStub stub() {
    return ImageServiceGrpc.newBlockingStub(channel.channel())
        .withDeadlineAfter(5, TimeUnit.MINUTES);
  }

  /** PullImage, as kubelet calls it; returns the image id containerd reports. */
  public String pull(String image) {
    return stub()
        .pullImage(
            PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build())
        .getImageRef();
  }

  /**
   * PullImage with the credentials kubelet found for the image (an imagePullSecret, a credential
   * provider); returns the image id containerd reports.
   */
  public String pull(String image, AuthConfig auth) {
    return stub()
        .pullImage(
            PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image))
                .setAuth(auth)
                .build())
        .getImageRef();
  }

  public List<Image> list() {
    return stub().listImages(ListImagesRequest.getDefaultInstance()).getImagesList();
  }

  public void remove(String image) {
    stub()
        .removeImage(
            RemoveImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image))
                .build());
  }

  @Override
  public void close() {
    channel.close();
  }
}
