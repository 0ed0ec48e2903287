// The in-process transport: the output hands the very token object (same Hash, same ArrayBuffers) to the
// input; nothing is serialised or copied.

import type { ConnectionSink, InputHello, InputLink, OutputEndpoint, PeerLink } from "./link.ts";

/** Attaches an input to an output of this process. */
export function attachLocal(output: OutputEndpoint, hello: InputHello, sink: ConnectionSink): InputLink {
  let open = true;
  const link: PeerLink = {
    memoryLocation: "local",
    remoteAddress: "",
    deliver: (token, info) => sink.onData(token, info),
    deliverEndOfStream: (info) => sink.onEndOfStream(info),
    reportDropped: (info) => sink.onDropped(info),
    close: (reason) => {
      if (!open) return;
      open = false;
      sink.onClose(reason);
    },
  };
  const handle = output.attach(hello, link);
  sink.onOpen(handle.session, "local", "");
  return {
    grant: (n) => {
      if (open) handle.grant(n);
    },
    close: () => {
      if (!open) return;
      open = false;
      handle.detach();
    },
  };
}
