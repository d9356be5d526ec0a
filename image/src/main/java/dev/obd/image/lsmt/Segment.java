package dev.obd.image.lsmt;

/**
 * One LSMT index entry: sectors {@code [offset, offset+length)} of the virtual disk are either
 * stored at sector {@code moffset} of the layer file or, when {@code zeroed}, read as zeros and
 * hide whatever lower layers hold there. All values are in 512-byte sectors.
 *
 * @param offset first virtual sector (50 bits)
 * @param length number of sectors, 1..{@value #MAX_LENGTH}
 * @param moffset sector in the layer's file where the data starts (55 bits)
 * @param zeroed whether the range reads as zeros without stored data
 * @param tag which layer the entry belongs to in a merged index (0..255); 0 in a single layer
 */
public record Segment(long offset, int length, long moffset, boolean zeroed, int tag) {
  /** Longest entry the 14-bit length field holds. */
  public static final int MAX_LENGTH = 16383;

  /** Largest value of the 50-bit offset field; reserved to mark padding entries. */
  public static final long INVALID_OFFSET = (1L << 50) - 1;

  static final long MAX_MOFFSET = (1L << 55) - 1;

  public Segment {
    if (offset < 0 || offset >= INVALID_OFFSET) {
      throw new IllegalArgumentException("segment offset " + offset + " out of range");
    }
    if (length < 1 || length > MAX_LENGTH) {
      throw new IllegalArgumentException("segment length " + length + " not in 1.." + MAX_LENGTH);
    }
    if (moffset < 0 || moffset > MAX_MOFFSET) {
      throw new IllegalArgumentException("segment moffset " + moffset + " out of range");
    }
    if (tag < 0 || tag > 255) {
      throw new IllegalArgumentException("segment tag " + tag + " not in 0..255");
    }
  }

  /** A data entry of layer 0. */
  public static Segment data(long offset, int length, long moffset) {
    return new Segment(offset, length, moffset, false, 0);
  }

  /** A zeroed entry of layer 0. */
  public static Segment zeroed(long offset, int length, long moffset) {
    return new Segment(offset, length, moffset, true, 0);
  }

  /** First sector after the entry. */
  public long end() {
    return offset + length;
  }

  /** The 16-byte on-disk form: low word. */
  long packedLow() {
    return offset | ((long) length << 50);
  }

  /** The 16-byte on-disk form: high word. */
  long packedHigh() {
    return moffset | (zeroed ? 1L << 55 : 0) | ((long) tag << 56);
  }
}
