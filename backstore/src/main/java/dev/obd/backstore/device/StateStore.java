package dev.obd.backstore.device;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Device records as one JSON file each under {@code <stateDir>/devices}, written atomically (temp
 * file, fsync, rename) so a crash leaves the old or the new record, never half of one.
 */
final class StateStore {
  private static final Logger LOG = Logger.getLogger(StateStore.class.getName());
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;

  StateStore(Path stateDir) throws IOException {
    this.dir = stateDir.resolve("devices");
    Files.createDirectories(dir);
  }

  void save(DeviceRecord r) throws IOException {
    Path tmp = dir.resolve("." + r.id() + ".tmp");
    try (var ch =
        java.nio.channels.FileChannel.open(
            tmp,
            java.nio.file.StandardOpenOption.CREATE,
            java.nio.file.StandardOpenOption.TRUNCATE_EXISTING,
            java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(
          java.nio.ByteBuffer.wrap(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r)));
      ch.force(true);
    }
    Files.move(tmp, dir.resolve(r.id() + ".json"), StandardCopyOption.ATOMIC_MOVE);
  }

  void delete(String id) throws IOException {
    Files.deleteIfExists(dir.resolve(id + ".json"));
  }

  List<DeviceRecord> loadAll() throws IOException {
    List<DeviceRecord> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        String name = f.getFileName().toString();
        if (name.startsWith(".")) {
          Files.deleteIfExists(f);
        } else if (name.endsWith(".json")) {
          try {
            out.add(JSON.readValue(f.toFile(), DeviceRecord.class));
          } catch (IOException e) {
            LOG.warning("ignoring unreadable device record " + f + ": " + e.getMessage());
          }
        }
      }
    }
    return out;
  }
}
