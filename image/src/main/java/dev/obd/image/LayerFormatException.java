package dev.obd.image;

/**
 * A layer (or one of its wrappers) is corrupt, truncated, hostile or uses a feature this reader
 * does not support. The message names the layer, the structure being read and the offset, e.g.
 * {@code "read ZFile block 17 of layer /x/blob at offset 69632: CRC mismatch"}; it is never a
 * transient I/O failure, so retrying the same bytes gives the same answer.
 */
public class LayerFormatException extends ImageFormatException {
  private static final long serialVersionUID = 1L;

  public LayerFormatException(String message) {
    super(message);
  }

  public LayerFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
