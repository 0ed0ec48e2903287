// Public API of the gui layer: the web GUI server and the typed API it shares with the page.
export * from "./api.ts";
export { type Identity, hashPassword, loadUsersFile, demoUsers, type UserRecord } from "./server/auth.ts";
export {
  type DeviceUpdate,
  type FacilityBackend,
  GuiRequestError,
  type ImageFeed,
  type LiveFrame,
  type RunsBackend,
} from "./server/backend.ts";
export { type GuiServer, type GuiServerOptions, startGuiServer } from "./server/server.ts";
export {
  detectorFeeds,
  type FacilityGui,
  type FacilityGuiOptions,
  findDetectorFeed,
  startFacilityGui,
} from "./facility.ts";
export {
  AssembledImageFeed,
  ChannelImageFeed,
  DetectorImageFeed,
  SelectableImageFeed,
} from "./server/detector-feed.ts";
export { CoreBackend } from "./server/core-backend.ts";
export { RunTableBackend } from "./server/run-table.ts";
