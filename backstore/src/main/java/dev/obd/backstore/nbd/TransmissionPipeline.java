package dev.obd.backstore.nbd;

import io.netty.channel.ChannelPipeline;

/** Installs the transmission-phase handlers on a connection. */
final class TransmissionPipeline {
  private TransmissionPipeline() {}

  static void install(
      ChannelPipeline pipeline,
      Export export,
      RequestDispatcher dispatcher,
      boolean structuredReplies) {
    pipeline.addLast("nbd-decoder", new TransmissionDecoder());
    pipeline.addLast("nbd-requests", new RequestHandler(export, dispatcher, structuredReplies));
  }
}
