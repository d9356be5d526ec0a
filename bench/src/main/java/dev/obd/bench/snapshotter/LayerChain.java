package dev.obd.bench.snapshotter;

import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.types.Mount;
import dev.obd.snapshotter.fs.LibC;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What containerd does to unpack an image of many layers, without the downloads: for each layer,
 * Prepare on the previous one, mount what Prepare returned (mount(2), as containerd's mount.All),
 * write the layer's file, unmount, Commit. Needs root.
 */
final class LayerChain {
  private static final long MS_RDONLY = 1;
  private static final long MS_BIND = 4096;
  private static final long MS_REC = 16384;
  private static final LibC.Calls LIBC = LibC.calls();

  /** Time of the whole chain and the Prepare and Commit calls in it, in nanoseconds. */
  record Timing(long totalNanos, long prepareNanos, long commitNanos) {}

  private LayerChain() {}

  /** Builds {@code layers} layers named {@code prefix-i}, mounting at {@code target}. */
  static Timing build(SnapshotsBlockingStub s, String prefix, int layers, Path target)
      throws IOException {
    Files.createDirectories(target);
    long prepare = 0;
    long commit = 0;
    long t0 = System.nanoTime();
    String parent = "";
    for (int i = 0; i < layers; i++) {
      String key = prefix + "-" + i;
      long a = System.nanoTime();
      List<Mount> mounts =
          s.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent).build())
              .getMountsList();
      long b = System.nanoTime();
      mountAll(mounts, target);
      try {
        Files.writeString(target.resolve("layer-" + i), key);
      } finally {
        unmount(target);
      }
      long c = System.nanoTime();
      s.commit(CommitSnapshotRequest.newBuilder().setName(key + "-c").setKey(key).build());
      commit += System.nanoTime() - c;
      prepare += b - a;
      parent = key + "-c";
    }
    return new Timing(System.nanoTime() - t0, prepare, commit);
  }

  private static void mountAll(List<Mount> mounts, Path target) throws IOException {
    if (mounts.size() != 1) {
      throw new IOException("expected one mount, got " + mounts);
    }
    Mount m = mounts.get(0);
    long flags = 0;
    List<String> data = new ArrayList<>();
    for (String o : m.getOptionsList()) {
      switch (o) {
        case "ro" -> flags |= MS_RDONLY;
        case "rw" -> flags &= ~MS_RDONLY;
        case "bind" -> flags |= MS_BIND;
        case "rbind" -> flags |= MS_BIND | MS_REC;
        default -> data.add(o);
      }
    }
    String type = m.getType().equals("bind") ? "none" : m.getType();
    if (LIBC.mount(m.getSource(), target.toString(), type, flags, String.join(",", data)) != 0) {
      throw new IOException("mount " + m + ": errno " + errno());
    }
  }

  private static void unmount(Path target) throws IOException {
    if (LIBC.umount2(target.toString(), 0) != 0) {
      throw new IOException("umount " + target + ": errno " + errno());
    }
  }

  private static int errno() {
    return LibC.lastError();
  }
}
