// Runs first on every page the app shows. The app's policy requires Trusted Types for the
// places where a string becomes code or markup; this default policy lets the pages' scripts
// start their workers from this bundle and no other place, and lets markup through, because
// under the app's policy (script-src 'self', no inline script) markup cannot run code: a
// script element or handler in it never runs, and 'self' is this bundle (sw.js refuses to
// fetch any script or style from the server).
trustedTypes.createPolicy('default', {
  createScriptURL(url) {
    const resolved = new URL(url, location.href);
    if (resolved.origin !== location.origin) throw new TypeError(`Sealmail runs only its own scripts, not ${resolved.href}`);
    return resolved.href;
  },
  createHTML: (html) => html,
});
