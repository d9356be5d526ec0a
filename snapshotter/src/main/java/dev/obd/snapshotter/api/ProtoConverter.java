package dev.obd.snapshotter.api;

import com.google.protobuf.Timestamp;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.Kind;
import dev.obd.proto.containerd.types.Mount;
import java.time.Instant;
import java.util.List;

/** Converts between the snapshotter's model and containerd's protobuf messages. */
final class ProtoConverter {
  private ProtoConverter() {}

  static List<Mount> mounts(List<dev.obd.snapshotter.snapshots.Mount> mounts) {
    return mounts.stream()
        .map(
            m ->
                Mount.newBuilder()
                    .setType(m.type())
                    .setSource(m.source())
                    .addAllOptions(m.options())
                    .build())
        .toList();
  }

  static Info info(dev.obd.snapshotter.snapshots.Info info) {
    return Info.newBuilder()
        .setName(info.name())
        .setParent(info.parent())
        .setKind(Kind.forNumber(info.kind().code()))
        .setCreatedAt(timestamp(info.created()))
        .setUpdatedAt(timestamp(info.updated()))
        .putAllLabels(info.labels())
        .build();
  }

  /**
   * The parts of an Update request's info that matter (name and labels); kind, parent and times are
   * immutable and ignored, as containerd ignores them.
   */
  static dev.obd.snapshotter.snapshots.Info updateInfo(Info info) {
    return new dev.obd.snapshotter.snapshots.Info(
        info.getName(),
        info.getParent(),
        dev.obd.snapshotter.snapshots.Kind.COMMITTED,
        info.getLabelsMap(),
        Instant.EPOCH,
        Instant.EPOCH);
  }

  private static Timestamp timestamp(Instant t) {
    return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
  }
}
