// Plays the package named in the query with hls.js or dash.js, muted, then posts one JSON
// report to /report: how far playback got, the audio and text tracks the player lists, and
// whether switching to the second audio track kept playing. Every wait ends in a report, so
// the test never waits on a silent page.
'use strict';

const query = new URLSearchParams(location.search);
const video = document.getElementById('video');
const seconds = Number(query.get('seconds') || '3');
const DEADLINE_MS = Number(query.get('deadline_ms') || '25000');
const AFTER_SWITCH = 1.0; // seconds of playback after an audio switch that prove it played on
const SWITCH_MS = 8000; // how long a player may take to render the other audio track

const report = {
  player: query.get('player'),
  version: '',
  mse_h264_aac: window.MediaSource !== undefined
    && MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"'),
  reached: 0,
  errors: [],
  warnings: [],
  audio: [],
  text: [],
  switched: null,
  audio_after_switch: null,
  video_frames: 0,
  audio_bytes: 0,
};
let sent = false;

function send() {
  if (sent) return;
  sent = true;
  report.reached = video.currentTime;
  report.video_frames = video.getVideoPlaybackQuality().totalVideoFrames;
  report.audio_bytes = video.webkitAudioDecodedByteCount || 0;
  // The element's text tracks: what the browser itself was given (metadata tracks carry
  // ID3/emsg events, not text for people).
  report.text = Array.from(video.textTracks)
    .filter((t) => t.kind !== 'metadata')
    .map((t) => ({ lang: t.language || '', kind: t.kind }));
  fetch('/report', { method: 'POST', body: JSON.stringify(report) });
}

function fail(message) {
  report.errors.push(String(message));
  send();
}

// Resolves once the playhead is at or past `at` seconds; a deadline or an error sends first.
function playedTo(at) {
  return new Promise((resolve) => {
    const check = () => {
      if (video.currentTime >= at) {
        video.removeEventListener('timeupdate', check);
        resolve();
      }
    };
    video.addEventListener('timeupdate', check);
    check();
  });
}

const players = {
  hls(src) {
    if (!Hls.isSupported()) return fail('hls.js: Hls.isSupported() is false');
    report.version = Hls.version;
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) fail(`hls.js ${data.type} ${data.details}`);
      else report.warnings.push(`hls.js ${data.type} ${data.details}`);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    return {
      audio: () => hls.audioTracks.map((t) => ({ lang: t.lang || '', name: t.name || '' })),
      switchAudio: (index) => new Promise((resolve) => {
        hls.once(Hls.Events.AUDIO_TRACK_SWITCHED, () => resolve(hls.audioTrack));
        hls.audioTrack = index;
      }),
    };
  },
  dash(src) {
    const player = dashjs.MediaPlayer().create();
    report.version = player.getVersion();
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => {
      fail(`dash.js ${e.error && e.error.code} ${e.error && e.error.message}`);
    });
    player.initialize(video, src, true);
    const tracks = () => player.getTracksFor('audio');
    const name = (t) => (t.labels && t.labels.length ? t.labels[0].text : '');
    return {
      audio: () => tracks().map((t) => ({ lang: t.lang || '', name: name(t) })),
      switchAudio: (index) => new Promise((resolve) => {
        const target = tracks()[index];
        player.on(dashjs.MediaPlayer.events.TRACK_CHANGE_RENDERED, (e) => {
          if (e.mediaType === 'audio') resolve(tracks().indexOf(player.getCurrentTrackFor('audio')));
        });
        player.setCurrentTrack(target);
      }),
    };
  },
};

async function main() {
  setTimeout(() => fail(`deadline: played to ${video.currentTime} s`), DEADLINE_MS);
  video.addEventListener('error', () => {
    fail(`video element: ${video.error && video.error.code} ${video.error && video.error.message}`);
  });
  const make = players[report.player];
  if (make === undefined) return fail(`unknown player ${report.player}`);
  const player = make(query.get('src'));
  if (player === undefined) return;
  video.muted = true;
  // hls.js attaches first; `canplay` below retries. dash.js plays itself (autoplay): a play()
  // before it listens hides the `play` event it starts its live manifest updates on.
  if (report.player !== 'dash') video.play().catch(() => {});
  video.addEventListener('canplay', () => video.play().catch((e) => fail(`play(): ${e}`)));
  await playedTo(seconds);
  report.audio = player.audio();
  if (report.audio.length > 1) {
    // a switch the player never completes is reported as such (-1), not as a page failure
    const gaveUp = new Promise((resolve) => setTimeout(() => resolve(-1), SWITCH_MS));
    report.audio_after_switch = await Promise.race([player.switchAudio(1), gaveUp]);
    report.switched = false;
    if (report.audio_after_switch === 1) {
      const from = video.currentTime;
      await playedTo(from + AFTER_SWITCH);
      report.switched = video.currentTime >= from + AFTER_SWITCH;
    }
  }
  send();
}

window.addEventListener('error', (e) => fail(`page: ${e.message}`));
main().catch((e) => fail(`page: ${e}`));
