package dev.obd.image.oci;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** An image tagged in an OCI layout directory, as a conversion's source or target. */
public final class LayoutImage implements ImageSource, ImageTarget {
  private final OciLayout layout;
  private final String tag;

  private LayoutImage(OciLayout layout, String tag) {
    this.layout = layout;
    this.tag = tag;
  }

  /** Image {@code tag} of the existing layout {@code dir}. */
  public static LayoutImage source(Path dir, String tag) throws IOException {
    return new LayoutImage(OciLayout.open(dir), tag);
  }

  /** Tag {@code tag} of layout {@code dir}, created when missing. */
  public static LayoutImage target(Path dir, String tag) throws IOException {
    return new LayoutImage(OciLayout.openOrCreate(dir), tag);
  }

  public OciLayout layout() {
    return layout;
  }

  @Override
  public String name() {
    return layout.dir() + ":" + tag;
  }

  @Override
  public Document root() throws IOException {
    Descriptor d = layout.resolve(tag);
    return new Document(d, read(d));
  }

  @Override
  public byte[] read(Descriptor d) throws IOException {
    return layout.readBytes(d);
  }

  @Override
  public LocalBlob fetch(Descriptor d, Path scratch) throws IOException {
    return new LocalBlob(layout.verifiedBlob(d), false);
  }

  @Override
  public void checkWritable() throws IOException {
    Path probe = Files.createTempFile(layout.dir().resolve("blobs/sha256"), ".probe", ".tmp");
    Files.delete(probe);
  }

  @Override
  public String location() {
    return "oci:" + layout.dir().toAbsolutePath().normalize();
  }

  @Override
  public boolean mount(Descriptor d, String location) throws IOException {
    if (!location.startsWith("oci:")) {
      return false;
    }
    Path other = Path.of(location.substring(4));
    Path blob = other.resolve("blobs/sha256").resolve(d.digest().hex());
    if (!Files.isRegularFile(blob)
        || Files.size(blob) != d.size()
        || !Digest.of(blob).equals(d.digest())) {
      return false;
    }
    layout.copyIn(blob, d.digest());
    return true;
  }

  @Override
  public boolean has(Descriptor d) {
    return Files.isRegularFile(layout.blobPath(d.digest()));
  }

  @Override
  public void putBlob(Descriptor d, Path file) throws IOException {
    layout.copyIn(file, d.digest());
  }

  @Override
  public void putBlob(Descriptor d, byte[] bytes) throws IOException {
    layout.putBlob(d.mediaType(), bytes);
  }

  @Override
  public void putManifest(Descriptor d, byte[] bytes) throws IOException {
    layout.putBlob(d.mediaType(), bytes);
  }

  @Override
  public void tag(Descriptor d, byte[] bytes) throws IOException {
    layout.tag(tag, d);
  }
}
