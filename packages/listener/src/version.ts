/** The listener's version, reported in `serve`'s `ready` notification. A test keeps it equal to package.json. */
export const LISTENER_VERSION = '0.1.0';
