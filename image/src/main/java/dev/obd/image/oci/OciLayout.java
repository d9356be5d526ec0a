package dev.obd.image.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An OCI image layout directory ({@code oci-layout}, {@code index.json}, {@code blobs/sha256/}).
 * Blobs are verified (size and digest) where they are read; new blobs and the index are written to
 * a temporary file and renamed into place. Not safe for concurrent writers.
 */
public final class OciLayout {
  /** Largest JSON document (index, manifest, config) read into memory. */
  static final int MAX_JSON = 16 << 20;

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path dir;

  private OciLayout(Path dir) {
    this.dir = dir;
  }

  /** Opens an existing layout. */
  public static OciLayout open(Path dir) throws IOException {
    if (!Files.isRegularFile(dir.resolve("oci-layout"))
        || !Files.isRegularFile(dir.resolve("index.json"))) {
      throw new IOException("open OCI layout " + dir + ": no oci-layout or index.json file");
    }
    return new OciLayout(dir);
  }

  /** Opens a layout, creating an empty one when the directory has none. */
  public static OciLayout openOrCreate(Path dir) throws IOException {
    Files.createDirectories(dir.resolve("blobs/sha256"));
    if (!Files.exists(dir.resolve("oci-layout"))) {
      writeAtomically(
          dir.resolve("oci-layout"),
          "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
    }
    if (!Files.exists(dir.resolve("index.json"))) {
      writeAtomically(
          dir.resolve("index.json"),
          "{\"schemaVersion\":2,\"manifests\":[]}".getBytes(StandardCharsets.UTF_8));
    }
    return new OciLayout(dir);
  }

  public Path dir() {
    return dir;
  }

  /** Where the blob with {@code digest} is (or would be) stored. */
  public Path blobPath(Digest digest) {
    return dir.resolve("blobs/sha256").resolve(digest.hex());
  }

  /** The manifest (or index) descriptor tagged {@code tag} in index.json. */
  public Descriptor resolve(String tag) throws IOException {
    JsonNode index = readJson(dir.resolve("index.json"));
    List<String> tags = new ArrayList<>();
    for (JsonNode m : index.path("manifests")) {
      String name = m.path("annotations").path(MediaTypes.REF_NAME).asText("");
      if (name.equals(tag)) {
        return descriptor(m, "index.json of " + dir);
      }
      if (!name.isEmpty()) {
        tags.add(name);
      }
    }
    throw new IOException(
        "resolve tag \"" + tag + "\" in OCI layout " + dir + ": not found (tags: " + tags + ")");
  }

  /** Reads a JSON blob after checking its size and digest. */
  public JsonNode readJson(Descriptor d) throws IOException {
    return JSON.readTree(readBytes(d));
  }

  /** The bytes of a JSON-sized blob (at most 16 MiB), after checking its size and digest. */
  public byte[] readBytes(Descriptor d) throws IOException {
    if (d.size() > MAX_JSON) {
      throw new IOException(
          "read blob "
              + d.digest()
              + " of "
              + dir
              + ": "
              + d.size()
              + " bytes is too large for a JSON document");
    }
    Path p = blobPath(d.digest());
    if (!Files.isRegularFile(p)) {
      throw new IOException("blob " + d.digest() + " is missing from OCI layout " + dir);
    }
    byte[] bytes = Files.readAllBytes(p);
    if (bytes.length != d.size() || !Digest.of(bytes).equals(d.digest())) {
      throw new IOException("read blob " + p + ": size or digest does not match its descriptor");
    }
    return bytes;
  }

  /** The path of a blob after checking its size and digest (reads the whole file). */
  public Path verifiedBlob(Descriptor d) throws IOException {
    Path p = blobPath(d.digest());
    if (!Files.isRegularFile(p)) {
      throw new IOException("blob " + d.digest() + " is missing from OCI layout " + dir);
    }
    if (Files.size(p) != d.size() || !Digest.of(p).equals(d.digest())) {
      throw new IOException("blob " + p + ": size or digest does not match its descriptor");
    }
    return p;
  }

  /** Stores {@code bytes} as a blob (no-op when present) and describes it. */
  public Descriptor putBlob(String mediaType, byte[] bytes) throws IOException {
    Digest d = Digest.of(bytes);
    Path p = blobPath(d);
    if (!Files.exists(p)) {
      writeAtomically(p, bytes);
    }
    return new Descriptor(mediaType, d, bytes.length);
  }

  /** Moves {@code file} (whose digest is {@code digest}) into the layout as a blob. */
  public void moveIn(Path file, Digest digest) throws IOException {
    Path p = blobPath(digest);
    Files.createDirectories(p.getParent());
    if (Files.exists(p)) {
      Files.delete(file);
    } else {
      try {
        Files.move(file, p, StandardCopyOption.ATOMIC_MOVE);
      } catch (java.nio.file.AtomicMoveNotSupportedException e) {
        Path tmp = p.resolveSibling(p.getFileName() + ".tmp");
        Files.copy(file, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE);
        Files.delete(file);
      }
    }
  }

  /**
   * Stores a copy of {@code file} (whose digest is {@code digest}) as a blob, leaving the file in
   * place: a hard link when both are on one file system, else a copy renamed into place.
   */
  public void copyIn(Path file, Digest digest) throws IOException {
    Path p = blobPath(digest);
    Files.createDirectories(p.getParent());
    if (Files.exists(p)) {
      return;
    }
    Path tmp = Files.createTempFile(p.getParent(), "." + digest.hex(), ".tmp");
    try {
      Files.delete(tmp);
      try {
        Files.createLink(tmp, file);
      } catch (IOException | UnsupportedOperationException e) {
        Files.copy(file, tmp);
      }
      Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Points {@code tag} at {@code manifest} in index.json, replacing an earlier entry. */
  public void tag(String tag, Descriptor manifest) throws IOException {
    ObjectNode index = (ObjectNode) readJson(dir.resolve("index.json"));
    ArrayNode kept = JSON.createArrayNode();
    for (JsonNode m : index.path("manifests")) {
      if (!m.path("annotations").path(MediaTypes.REF_NAME).asText("").equals(tag)) {
        kept.add(m);
      }
    }
    Map<String, String> ann = new LinkedHashMap<>(manifest.annotations());
    ann.put(MediaTypes.REF_NAME, tag);
    kept.add(toJson(new Descriptor(manifest.mediaType(), manifest.digest(), manifest.size(), ann)));
    if (!index.has("schemaVersion")) {
      index.put("schemaVersion", 2);
    }
    index.set("manifests", kept);
    writeAtomically(dir.resolve("index.json"), JSON.writeValueAsBytes(index));
  }

  /** Parses a descriptor object. */
  public static Descriptor descriptor(JsonNode n, String where) throws IOException {
    try {
      Map<String, String> ann = new LinkedHashMap<>();
      for (Map.Entry<String, JsonNode> e : n.path("annotations").properties()) {
        ann.put(e.getKey(), e.getValue().asText());
      }
      if (!n.path("size").canConvertToLong()) {
        throw new IllegalArgumentException("size is not a number");
      }
      return new Descriptor(
          n.path("mediaType").asText(""),
          Digest.parse(n.path("digest").asText()),
          n.path("size").asLong(),
          ann);
    } catch (IllegalArgumentException e) {
      throw new IOException("parse descriptor in " + where + ": " + e.getMessage(), e);
    }
  }

  /** A descriptor as JSON in Go's field order (annotations sorted). */
  public static ObjectNode toJson(Descriptor d) {
    ObjectNode n = JSON.createObjectNode();
    n.put("mediaType", d.mediaType());
    n.put("digest", d.digest().toString());
    n.put("size", d.size());
    if (!d.annotations().isEmpty()) {
      ObjectNode a = n.putObject("annotations");
      d.annotations().forEach(a::put);
    }
    return n;
  }

  static JsonNode readJson(Path file) throws IOException {
    if (Files.size(file) > MAX_JSON) {
      throw new IOException("read " + file + ": too large for a JSON document");
    }
    try (InputStream in = Files.newInputStream(file)) {
      return JSON.readTree(in);
    }
  }

  static void writeAtomically(Path file, byte[] bytes) throws IOException {
    Path tmp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp");
    try {
      Files.write(tmp, bytes);
      Files.setPosixFilePermissions(
          tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
