package dev.obd.backstore.daemon;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;

/**
 * Replaces the JVM's SIGTERM/SIGINT handling (exit 143/130) with a callback so the daemon stops
 * cleanly and exits 0. Uses {@code sun.misc.Signal} reflectively: javac's proprietary-API warning
 * cannot be suppressed and this build treats warnings as errors.
 */
public final class Signals {
  private Signals() {}

  public static void onTermination(Runnable callback) {
    try {
      Class<?> signal = Class.forName("sun.misc.Signal");
      Class<?> handler = Class.forName("sun.misc.SignalHandler");
      Object h =
          Proxy.newProxyInstance(
              Signals.class.getClassLoader(),
              new Class<?>[] {handler},
              (proxy, method, args) -> {
                if (method.getName().equals("handle")) {
                  callback.run();
                  return null;
                }
                if (method.getName().equals("hashCode")) {
                  return System.identityHashCode(proxy);
                }
                if (method.getName().equals("equals")) {
                  return proxy == args[0];
                }
                return "Signals.handler";
              });
      for (String name : new String[] {"TERM", "INT"}) {
        signal
            .getMethod("handle", signal, handler)
            .invoke(null, signal.getConstructor(String.class).newInstance(name), h);
      }
    } catch (ClassNotFoundException
        | NoSuchMethodException
        | InstantiationException
        | IllegalAccessException
        | InvocationTargetException e) {
      throw new IllegalStateException("install SIGTERM/SIGINT handlers", e);
    }
  }
}
