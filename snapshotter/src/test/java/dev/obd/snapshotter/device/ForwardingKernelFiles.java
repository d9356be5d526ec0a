package dev.obd.snapshotter.device;

import java.io.IOException;
import java.util.List;

/** {@link KernelFiles} that passes every call to another; tests override what they change. */
abstract class ForwardingKernelFiles implements KernelFiles {
  protected final KernelFiles kernel;

  ForwardingKernelFiles(KernelFiles kernel) {
    this.kernel = kernel;
  }

  @Override
  public boolean exists(String path) {
    return kernel.exists(path);
  }

  @Override
  public void mkdirs(String path) throws IOException {
    kernel.mkdirs(path);
  }

  @Override
  public void write(String path, String value) throws IOException {
    kernel.write(path, value);
  }

  @Override
  public String read(String path) throws IOException {
    return kernel.read(path);
  }

  @Override
  public void symlink(String link, String target) throws IOException {
    kernel.symlink(link, target);
  }

  @Override
  public void remove(String path) throws IOException {
    kernel.remove(path);
  }

  @Override
  public List<String> list(String dir) throws IOException {
    return kernel.list(dir);
  }

  @Override
  public int readStart(String device, int length) throws IOException {
    return kernel.readStart(device, length);
  }
}
