package dev.obd.image;

import java.io.IOException;

/**
 * A file of an image is not what its format requires: a config.v1.json that does not parse or has a
 * bad value, a layer that is corrupt, truncated or uses an unsupported feature ({@link
 * LayerFormatException}). The input is wrong, not the machine: reading the same bytes again gives
 * the same answer. The message names the file and what is wrong in it.
 *
 * <p>Checked, as the other failures of reading a file are ({@link IOException}): every reader of
 * this module already declares {@code IOException}, and a caller that treats bad input differently
 * from a failing disk catches this type first. Values built in code ({@code ImageConfig.of}, {@code
 * LowerConfig.remote}) still reject bad arguments with {@link IllegalArgumentException}: that is a
 * caller's mistake, not a file's.
 */
public class ImageFormatException extends IOException {
  private static final long serialVersionUID = 1L;

  public ImageFormatException(String message) {
    super(message);
  }

  public ImageFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
