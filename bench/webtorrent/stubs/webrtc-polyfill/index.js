// No WebRTC: simple-peer sees RTCPeerConnection undefined and reports
// WEBRTC_SUPPORT = false, so webtorrent connects to TCP and uTP peers only.
export const RTCPeerConnection = undefined
export const RTCSessionDescription = undefined
export const RTCIceCandidate = undefined
export default {}
