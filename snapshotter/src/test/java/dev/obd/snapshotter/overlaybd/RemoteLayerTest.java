package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RemoteLayerTest {
  private static final String DIGEST =
      "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";

  private static Map<String, String> labels() {
    Map<String, String> l = new HashMap<>();
    l.put(Labels.SNAPSHOT_REF, "k8s.io/12/sha256:abc");
    l.put(Labels.BLOB_DIGEST, DIGEST);
    l.put(Labels.BLOB_SIZE, "642560");
    l.put(Labels.CRI_IMAGE_REF, "127.0.0.1:5000/hello:amd64-converted");
    return l;
  }

  @Test
  void theCriLabelsOfAConvertedLayerDescribeARemoteLayer() {
    RemoteLayer r = RemoteLayer.from(labels()).orElseThrow();
    assertThat(r.snapshotRef()).isEqualTo("k8s.io/12/sha256:abc");
    assertThat(r.blobDigest()).isEqualTo(DIGEST);
    assertThat(r.blobSize()).isEqualTo(642560);
    assertThat(r.image()).isEqualTo(new ImageRef("127.0.0.1:5000", "hello"));
  }

  @Test
  void imageRefWinsOverTheCriImageRef() {
    Map<String, String> l = labels();
    l.put(Labels.IMAGE_REF, "docker.io/overlaybd/redis:6.2.1_obd");
    assertThat(RemoteLayer.from(l).orElseThrow().image().repository()).isEqualTo("overlaybd/redis");
  }

  @Test
  void withoutAnyOfTheFourLabelsItIsNoRemoteLayer() {
    for (String key :
        new String[] {
          Labels.SNAPSHOT_REF, Labels.BLOB_DIGEST, Labels.BLOB_SIZE, Labels.CRI_IMAGE_REF
        }) {
      Map<String, String> l = labels();
      l.remove(key);
      assertThat(RemoteLayer.from(l)).as("without " + key).isEmpty();
    }
  }

  @Test
  void malformedValuesAreInvalidArguments() {
    for (String[] bad :
        new String[][] {
          {Labels.BLOB_DIGEST, "sha256:XYZ"},
          {Labels.BLOB_DIGEST, "md5:0123456789abcdef0123456789abcdef"},
          {Labels.BLOB_SIZE, "-1"},
          {Labels.BLOB_SIZE, "12k"},
          {Labels.BLOB_SIZE, "99999999999999999999999"},
          {Labels.CRI_IMAGE_REF, "not a reference"},
          {Labels.SNAPSHOT_REF, ""},
        }) {
      Map<String, String> l = labels();
      l.put(bad[0], bad[1]);
      assertThatThrownBy(() -> RemoteLayer.from(l))
          .as(bad[0] + "=" + bad[1])
          .isInstanceOf(InvalidArgumentException.class)
          .hasMessageContaining(bad[0]);
    }
  }
}
