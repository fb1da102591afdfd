// careslot video consultation: WebRTC between the two browsers, signalling over the room's
// WebSocket (see crates/server/src/video/room.rs for the messages). The practice side makes
// the offers (and ICE restarts); the patient side answers, attaching its camera and
// microphone to the offer's transceivers, so the two never offer at once when a call
// starts. Later renegotiations (a new kind of device) follow "perfect negotiation": the
// practice is "impolite" (its offer wins a collision), the patient "polite".
// The camera and microphone are asked for only when the person presses "Join" (or the
// explicit device check), never on load and never while the room is closed. A hang-up, by
// either side or from the practice's appointment page, stops every local track and closes
// the peer connection.
// A dropped WebSocket reconnects with the same credential while it is valid (a new one is
// fetched after), and a failed connection is repaired with an ICE restart.

// The room opens at a time the server gave as "seconds from this page's load" (its own
// clock decides): count them with the browser's clock differences only, so a wrong
// browser clock cannot open it early or late. Re-checked at least every 30 s (a sleeping
// laptop or a throttled tab).
function careslotWhenOpen(seconds, fn) {
  const due = Date.now() + Math.max(0, seconds) * 1000;
  const tick = () => {
    const left = due - Date.now();
    if (left <= 0) fn();
    else setTimeout(tick, Math.min(left, 30_000));
  };
  tick();
}

// Appointment pages: the join button appears when the room opens, without a reload.
(() => {
  'use strict';
  const card = document.getElementById('video-join');
  if (!card || card.dataset.opensIn === undefined) return;
  careslotWhenOpen(Number(card.dataset.opensIn), () => {
    const opens = document.getElementById('video-opens');
    const link = document.getElementById('join-video');
    if (opens) opens.hidden = true;
    if (link) link.hidden = false;
    card.dataset.open = 'true';
  });
})();

(() => {
  'use strict';
  const root = document.getElementById('video');
  if (!root || !window.RTCPeerConnection) return;

  const side = root.dataset.side;
  const polite = side === 'patient';
  const $ = (id) => document.getElementById(id);
  const statusEl = $('video-status');
  const mediaErrorEl = $('video-media-error');
  const localVideo = $('local-video');
  const remoteVideo = $('remote-video');
  const cameraSel = $('camera-select');
  const micSel = $('mic-select');
  const micBtn = $('toggle-mic');
  const camBtn = $('toggle-camera');
  const hangupBtn = $('hangup');
  const rejoin = $('rejoin');
  const admitBtn = $('admit');
  const joinBtn = $('join');
  const checkBtn = $('device-check');
  const prejoin = $('prejoin');
  const stage = $('video-stage');
  const controls = $('video-controls');
  const endedBox = $('video-ended');
  const waitingBox = $('video-waiting');

  /** The page's text for a slug (data-msg-<slug>). */
  const msg = (slug) => root.dataset['msg' + slug.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase())] || slug;
  const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');

  const instance = randomId(); // this page load; a reload is a new peer for the other side
  let session = null; // the room's credential and ICE servers
  let ws = null;
  let pc = null;
  let peerInstance = null;
  let localStream = null;
  let lastState = null;
  let joined = false; // "Join" was pressed
  let checking = false; // the device check's preview is on
  let ended = false; // hung up, replaced or the room is closed: no reconnect
  let retry = 0;
  let makingOffer = false;
  let ignoreOffer = false;
  let peerEnded = false; // the other side hung up
  let micMuted = false;
  let cameraOff = false;
  let autoJoins = 0; // joins tried again by the page after a `room-not-open`
  const AUTO_JOINS = 3;
  const AUTO_JOIN_MAX_S = 120;
  let joins = 0; // WebSocket connections opened by this page (data-joins)
  let peers = 0; // peer connections started by this page (data-peers)

  function setStatus(slug) {
    root.dataset.state = slug;
    const text = msg(slug);
    if (statusEl.textContent !== text) statusEl.textContent = text;
  }

  function send(m) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
  }

  // ---- local media ----------------------------------------------------------------------

  /** Stops every local track (the camera's light goes off) and clears the preview. */
  function stopMedia() {
    if (localStream) localStream.getTracks().forEach((t) => t.stop());
    localStream = null;
    localVideo.srcObject = null;
  }

  async function startMedia() {
    // Never outside a call or the explicit device check.
    if (ended || (!joined && !checking)) return;
    const constraints = {
      audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
      video: cameraSel.value ? { deviceId: { exact: cameraSel.value } } : true,
    };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
      mediaErrorEl.hidden = true;
    } catch (e) {
      mediaErrorEl.textContent = msg('media-error');
      mediaErrorEl.hidden = false;
      return;
    }
    if (ended || (!joined && !checking)) {
      // Hung up (or the check stopped) while the browser was asking.
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    stream.getAudioTracks().forEach((t) => { t.enabled = !micMuted; });
    stream.getVideoTracks().forEach((t) => { t.enabled = !cameraOff; });
    const old = localStream;
    localStream = stream;
    localVideo.srcObject = stream;
    if (pc) {
      for (const track of stream.getTracks()) {
        const sender = pc.getSenders().find((s) => s.track && s.track.kind === track.kind);
        if (sender) await sender.replaceTrack(track);
        else pc.addTrack(track, stream);
      }
    }
    if (old) old.getTracks().forEach((t) => t.stop());
    await listDevices();
  }

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    const fill = (select, kind, track) => {
      const current = track ? track.getSettings().deviceId : select.value;
      select.replaceChildren();
      const def = document.createElement('option');
      def.value = '';
      def.textContent = msg('device-default');
      select.append(def);
      let n = 0;
      for (const d of devices.filter((x) => x.kind === kind && x.deviceId)) {
        n += 1;
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || `${kind === 'videoinput' ? '📷' : '🎤'} ${n}`;
        select.append(o);
      }
      if ([...select.options].some((o) => o.value === current)) select.value = current;
    };
    fill(cameraSel, 'videoinput', localStream && localStream.getVideoTracks()[0]);
    fill(micSel, 'audioinput', localStream && localStream.getAudioTracks()[0]);
  }

  const restartMedia = () => { if (localStream) startMedia(); };
  cameraSel.addEventListener('change', restartMedia);
  micSel.addEventListener('change', restartMedia);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener('devicechange', listDevices);
  }

  micBtn.addEventListener('click', () => {
    micMuted = !micMuted;
    micBtn.setAttribute('aria-pressed', String(micMuted));
    if (localStream) localStream.getAudioTracks().forEach((t) => { t.enabled = !micMuted; });
  });
  camBtn.addEventListener('click', () => {
    cameraOff = !cameraOff;
    camBtn.setAttribute('aria-pressed', String(cameraOff));
    if (localStream) localStream.getVideoTracks().forEach((t) => { t.enabled = !cameraOff; });
  });

  // ---- the peer connection --------------------------------------------------------------

  function closePeer() {
    if (pc) {
      pc.onicecandidate = pc.ontrack = pc.onnegotiationneeded = pc.onconnectionstatechange = null;
      pc.close();
    }
    pc = null;
    peerInstance = null;
    remoteVideo.srcObject = null;
    root.dataset.connection = 'closed';
  }

  function newPeer(peer) {
    closePeer();
    peerInstance = peer;
    makingOffer = false;
    ignoreOffer = false;
    const conn = new RTCPeerConnection({
      iceServers: session.ice_servers,
      iceTransportPolicy: session.ice_transport_policy === 'relay' ? 'relay' : 'all',
    });
    pc = conn;
    peers += 1;
    root.dataset.peers = String(peers);
    if (!polite) {
      if (localStream) {
        for (const t of localStream.getTracks()) conn.addTrack(t, localStream);
      } else {
        // No camera or microphone: still receive the other side.
        conn.addTransceiver('audio', { direction: 'recvonly' });
        conn.addTransceiver('video', { direction: 'recvonly' });
      }
    }
    conn.ontrack = ({ track, streams }) => {
      remoteVideo.srcObject = streams[0] || new MediaStream([track]);
    };
    conn.onicecandidate = ({ candidate }) => {
      if (candidate) send({ type: 'signal', data: { candidate: candidate.toJSON() } });
    };
    conn.onnegotiationneeded = async () => {
      // The patient's first description is the answer to the practice's offer.
      if (polite && !conn.remoteDescription) return;
      try {
        makingOffer = true;
        await conn.setLocalDescription();
        send({ type: 'signal', data: { description: conn.localDescription } });
      } catch (e) {
        console.warn('video: negotiation failed', e);
      } finally {
        makingOffer = false;
      }
    };
    conn.onconnectionstatechange = () => {
      if (conn !== pc) return;
      root.dataset.connection = conn.connectionState;
      switch (conn.connectionState) {
        case 'connected':
          setStatus('connected');
          break;
        case 'disconnected':
          setStatus('reconnecting');
          break;
        case 'failed':
          setStatus('reconnecting');
          if (!polite && lastState && lastState.in_call) conn.restartIce();
          break;
        default:
      }
    };
    root.dataset.connection = conn.connectionState;
  }

  /** The patient's camera and microphone, on the transceivers of the practice's offer. */
  function attachLocalTracks(conn) {
    if (!localStream) return;
    const sending = conn.getSenders().filter((x) => x.track).map((x) => x.track.kind);
    for (const t of localStream.getTracks()) {
      if (!sending.includes(t.kind)) conn.addTrack(t, localStream);
    }
  }

  async function onSignal(data) {
    const conn = pc;
    if (!conn || !data) return;
    try {
      if (data.description) {
        const d = data.description;
        const collision = d.type === 'offer' && (makingOffer || conn.signalingState !== 'stable');
        ignoreOffer = !polite && collision;
        if (ignoreOffer) return;
        await conn.setRemoteDescription(d);
        if (d.type === 'offer') {
          attachLocalTracks(conn);
          await conn.setLocalDescription();
          send({ type: 'signal', data: { description: conn.localDescription } });
        }
      } else if (data.candidate) {
        try {
          await conn.addIceCandidate(data.candidate);
        } catch (e) {
          if (!ignoreOffer) console.warn('video: a candidate was refused', e);
        }
      }
    } catch (e) {
      console.warn('video: signalling failed', e);
    }
  }

  // ---- the room -------------------------------------------------------------------------

  function renderWaiting(waiting) {
    if (!admitBtn) return;
    const list = $('waiting-list');
    const empty = $('waiting-empty');
    const someone = waiting.length > 0;
    list.hidden = !someone;
    empty.hidden = someone;
    if (someone) {
      const since = new Date(waiting[0].since);
      let time;
      try {
        time = since.toLocaleTimeString(document.documentElement.lang, { hour: '2-digit', minute: '2-digit', timeZone: root.dataset.tz });
      } catch {
        time = since.toLocaleTimeString(document.documentElement.lang, { hour: '2-digit', minute: '2-digit' });
      }
      $('waiting-since').textContent = msg('waiting-since').replace('{time}', time);
    }
  }

  function onState(m) {
    lastState = m;
    renderWaiting(m.waiting || []);
    if (m.in_call) {
      peerEnded = false;
      if (!pc || m.peer_instance !== peerInstance) {
        newPeer(m.peer_instance);
      } else if (!polite && (pc.connectionState === 'failed' || pc.connectionState === 'disconnected')) {
        pc.restartIce();
      }
      setStatus(pc.connectionState === 'connected' ? 'connected' : 'connecting');
      return;
    }
    if (!m.admitted && pc) closePeer(); // the call ended
    if (pc && pc.connectionState === 'connected') {
      setStatus('connected'); // the other side's signalling dropped, the media still flows
    } else if (side === 'patient') {
      setStatus(peerEnded ? 'ended-by-peer' : m.admitted ? 'peer-away' : 'waiting');
    } else if (!m.peer_present) {
      setStatus(peerEnded ? 'patient-left' : m.admitted ? 'peer-away' : 'waiting-for-patient');
    } else {
      setStatus('patient-waiting');
    }
  }

  function onMessage(m) {
    switch (m.type) {
      case 'state':
        onState(m);
        break;
      case 'signal':
        onSignal(m.data);
        break;
      case 'hangup':
        // The other side hung up: this side's call ends too.
        peerEnded = true;
        finish(side === 'patient' ? 'ended-by-practice' : 'patient-left');
        break;
      case 'ended':
        // The practice ended the consultation from the appointment page.
        finish(side === 'patient' ? 'ended-by-practice' : 'ended-by-peer');
        break;
      case 'replaced':
        finish('replaced');
        break;
      default:
    }
  }

  async function fetchSession() {
    const res = await fetch(root.dataset.sessionUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
      body: new URLSearchParams({ csrf: root.dataset.csrf }),
    });
    if (res.ok) return res.json();
    let slug = 'error';
    const retryAfter = Number(res.headers.get('Retry-After')) || 30;
    try {
      const p = await res.json();
      slug = String(p.type || '').split('/').pop() || 'error';
    } catch {
      // not JSON
    }
    const e = new Error(slug);
    e.slug = slug;
    e.retryAfter = retryAfter;
    throw e;
  }

  function scheduleReconnect() {
    const delay = Math.min(10_000, 500 * 2 ** retry);
    retry += 1;
    setTimeout(connect, delay);
  }

  async function connect() {
    if (ended) return;
    if (!session || Date.parse(session.expires_at) - Date.now() < 5_000) {
      try {
        session = await fetchSession();
      } catch (e) {
        session = null;
        const slug = e.slug || 'error';
        if (slug === 'room-not-open') {
          // The server's clock says not yet (Join pressed a moment before its opening): a
          // short wait is done for the person, camera off, then the join is tried again by
          // itself, a few times at most; a long one goes back to the pre-join screen.
          if (joined && autoJoins < AUTO_JOINS && e.retryAfter <= AUTO_JOIN_MAX_S) {
            autoJoins += 1;
            joinWhenOpen(e.retryAfter);
          } else {
            backToPrejoin(slug, e.retryAfter);
          }
        } else if (slug === 'room-closed' || slug === 'appointment-not-booked' || slug === 'not-found' || slug === 'not-teleconsultation') {
          finish(['room-closed', 'appointment-not-booked'].includes(slug) ? slug : 'error');
        } else {
          setStatus('error');
          scheduleReconnect();
        }
        return;
      }
    }
    if (!lastState) setStatus('joining');
    let opened = false;
    const sock = new WebSocket(session.ws_url, [session.protocol, 'cred.' + session.credential]);
    ws = sock;
    sock.onopen = () => {
      opened = true;
      retry = 0;
      joins += 1;
      root.dataset.joins = String(joins);
      sock.send(JSON.stringify({ type: 'hello', instance }));
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return; // this side's call ended: what is still queued is moot
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      onMessage(m);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (ended) return;
      // Refused at the upgrade: the credential may be stale (a restarted server); get a new one.
      if (!opened) session = null;
      if (!pc || pc.connectionState !== 'connected') setStatus('reconnecting');
      scheduleReconnect();
    };
  }

  if (admitBtn) {
    admitBtn.addEventListener('click', () => send({ type: 'admit' }));
  }

  /** Ends the call on this side: media off, peer connection and signalling closed. */
  function finish(slug) {
    ended = true;
    joined = false;
    closePeer();
    stopMedia();
    const sock = ws;
    ws = null;
    if (sock) sock.close(1000);
    setStatus(slug);
    stage.hidden = true;
    controls.hidden = true;
    prejoin.hidden = true;
    if (waitingBox) waitingBox.hidden = true;
    rejoin.href = location.pathname;
    endedBox.hidden = false;
    $('ended-h').focus();
  }

  hangupBtn.addEventListener('click', () => {
    send({ type: 'hangup' });
    finish('ended');
  });

  /** Camera off and a visible "opening in a moment" until the server's time, then Join again. */
  function joinWhenOpen(seconds) {
    stopMedia();
    setStatus('room-opening');
    // Retry-After is whole seconds rounded down: one more, not to come back a moment early.
    careslotWhenOpen(seconds + 1, async () => {
      if (ended || !joined) return;
      setStatus('starting');
      if (!localStream) await startMedia();
      await connect();
    });
  }

  function backToPrejoin(slug, seconds) {
    joined = false;
    stopMedia();
    stage.hidden = true;
    controls.hidden = true;
    if (waitingBox) waitingBox.hidden = true;
    prejoin.hidden = false;
    joinBtn.disabled = true;
    setStatus(slug);
    careslotWhenOpen(seconds, () => {
      if (ended || joined) return;
      joinBtn.disabled = false;
      setStatus('ready');
    });
  }

  joinBtn.addEventListener('click', async () => {
    if (joined || ended) return;
    joined = true;
    checking = false;
    checkBtn.setAttribute('aria-pressed', 'false');
    prejoin.hidden = true;
    stage.hidden = false;
    controls.hidden = false;
    if (waitingBox) waitingBox.hidden = false;
    setStatus('starting');
    if (!localStream) await startMedia();
    await connect();
  });

  // The device check: a preview on explicit request only, and off again on request.
  checkBtn.addEventListener('click', async () => {
    if (joined || ended) return;
    checking = !checking;
    checkBtn.setAttribute('aria-pressed', String(checking));
    checkBtn.textContent = msg(checking ? 'device-check-stop' : 'device-check');
    if (checking) {
      stage.hidden = false;
      await startMedia();
    } else {
      stopMedia();
      stage.hidden = true;
    }
  });

  window.addEventListener('pagehide', () => {
    if (ws) ws.close(1000);
  });

  /**
   * What the call is doing, for people debugging a call from the console and for the
   * browser tests: the connection state, frames decoded from the other side and the
   * types of the selected candidate pair (host, srflx, relay).
   */
  window.careslotVideo = {
    get state() {
      return root.dataset.state;
    },
    /** Whether this page holds live camera or microphone tracks. */
    get mediaLive() {
      return !!localStream && localStream.getTracks().some((t) => t.readyState === 'live');
    },
    get connectionState() {
      return pc ? pc.connectionState : 'new';
    },
    async stats() {
      const conn = pc;
      if (!conn) return null;
      const report = await conn.getStats();
      let framesDecoded = 0;
      let pairId = null;
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += s.framesDecoded || 0;
        if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      if (!pairId) {
        report.forEach((s) => {
          if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pairId = s.id;
        });
      }
      const pair = pairId ? report.get(pairId) : null;
      const local = pair ? report.get(pair.localCandidateId) : null;
      const remote = pair ? report.get(pair.remoteCandidateId) : null;
      return {
        connectionState: conn.connectionState,
        iceConnectionState: conn.iceConnectionState,
        signalingState: conn.signalingState,
        framesDecoded,
        localCandidateType: local ? local.candidateType : null,
        remoteCandidateType: remote ? remote.candidateType : null,
      };
    },
    /** Drops the signalling connection as a network failure would (the page reconnects). */
    dropSignalling() {
      if (ws) ws.close(4000, 'dropped');
    },
  };

  if (root.dataset.room === 'not-open') {
    careslotWhenOpen(Number(root.dataset.opensIn), () => {
      if (ended || joined) return;
      root.dataset.room = 'open';
      joinBtn.disabled = false;
      setStatus('ready');
    });
  }
})();
