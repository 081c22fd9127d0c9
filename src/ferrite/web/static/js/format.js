// Human-readable numbers: times, sizes, codecs, languages.

export function clock(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  const s = Math.floor(seconds % 60);
  const m = Math.floor((seconds / 60) % 60);
  const hrs = Math.floor(seconds / 3600);
  const ss = String(s).padStart(2, '0');
  return hrs ? `${hrs}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function runtime(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const mins = Math.round(seconds / 60);
  const hrs = Math.floor(mins / 60);
  return hrs ? `${hrs} h ${mins % 60} min` : `${mins} min`;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** A transfer rate in bytes per second: "1.2 MB/s". */
export function rate(bytesPerSecond) {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '0 B/s';
  return `${bytes(bytesPerSecond)}/s`;
}

export function bitrate(bps) {
  if (!Number.isFinite(bps) || bps <= 0) return '';
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mb/s` : `${Math.round(bps / 1e3)} kb/s`;
}

export function frameRate(value) {
  if (!value) return '';
  const [num, den] = String(value).split('/').map(Number);
  const fps = den ? num / den : num;
  return Number.isFinite(fps) ? `${Number(fps.toFixed(3))} fps` : '';
}

const CODECS = {
  h264: 'H.264', hevc: 'HEVC', av1: 'AV1', vp9: 'VP9', vp8: 'VP8', mpeg2video: 'MPEG-2', mpeg4: 'MPEG-4',
  aac: 'AAC', ac3: 'Dolby Digital', eac3: 'Dolby Digital+', truehd: 'TrueHD', dts: 'DTS', opus: 'Opus',
  flac: 'FLAC', mp3: 'MP3', vorbis: 'Vorbis', alac: 'ALAC',
  subrip: 'SRT', srt: 'SRT', ass: 'ASS', ssa: 'SSA', webvtt: 'WebVTT', mov_text: 'MP4 text',
  hdmv_pgs_subtitle: 'PGS', dvd_subtitle: 'VobSub', dvb_subtitle: 'DVB',
};
export const codec = (name) => CODECS[name] ?? (name ? String(name).toUpperCase() : '');

export function channels(n, layout) {
  if (n === 1) return 'Mono';
  if (n === 2) return 'Stereo';
  if (n === 6) return '5.1';
  if (n === 8) return '7.1';
  return layout || (n ? `${n} ch` : '');
}

export function resolution(width, height) {
  if (!width || !height) return '';
  if (width >= 3200 || height >= 2000) return '4K';
  if (width >= 1800 || height >= 1000) return '1080p';
  if (width >= 1200 || height >= 700) return '720p';
  if (height >= 560) return '576p';
  if (height >= 470) return '480p';
  return `${height}p`;
}

export const HDR = { hdr10: 'HDR10', hlg: 'HLG', dolby_vision: 'Dolby Vision' };

// ISO 639-2/B codes (what Matroska and MP4 tag) that differ from the /T codes Intl knows.
const B_TO_T = {
  alb: 'sq', arm: 'hy', baq: 'eu', bur: 'my', chi: 'zh', cze: 'cs', dut: 'nl', fre: 'fr', geo: 'ka',
  ger: 'de', gre: 'el', ice: 'is', mac: 'mk', mao: 'mi', may: 'ms', per: 'fa', rum: 'ro', slo: 'sk',
  tib: 'bo', wel: 'cy',
};
let names = null;
export function language(code) {
  if (!code || code === 'und' || code === 'zxx') return '';
  const key = B_TO_T[code.toLowerCase()] ?? code;
  try {
    names ??= new Intl.DisplayNames([navigator.language || 'en', 'en'], { type: 'language' });
    const name = names.of(key);
    if (name && name.toLowerCase() !== key.toLowerCase()) return name;
  } catch { /* not a code Intl knows */ }
  return code;
}

/** Whether two language tags name one language ("fre", "fra" and "fr" do). */
export function sameLanguage(a, b) {
  const x = language(a);
  return Boolean(x) && x === language(b);
}

export function relativeTime(epochSeconds) {
  if (!epochSeconds) return 'never';
  const diff = epochSeconds - Date.now() / 1000;
  const rtf = new Intl.RelativeTimeFormat(navigator.language || 'en', { numeric: 'auto' });
  const abs = Math.abs(diff);
  if (abs < 60) return rtf.format(Math.round(diff), 'second');
  if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  return rtf.format(Math.round(diff / 86400), 'day');
}

/** "S1 · E3" for episodes, the year for movies. */
export function itemSubtitle(item) {
  if (item.kind === 'episode') {
    const s = item.season_number ?? '?';
    const e = item.episode_number ?? '?';
    return `S${s} · E${e}`;
  }
  if (item.kind === 'season') return item.season_number === 0 ? 'Specials' : `Season ${item.season_number ?? ''}`.trim();
  if (item.kind === 'show') return item.year ? `${item.year} · Series` : 'Series';
  return item.year ? String(item.year) : '';
}
