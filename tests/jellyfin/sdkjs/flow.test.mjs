// @jellyfin/sdk (the TypeScript SDK behind jellyfin-web and several apps) against a running
// Ferrite server: server discovery (which checks ProductName and Version), log-in, views,
// items, a show's seasons and episodes, an item's detail and PlaybackInfo.
//
// Run by tests/jellyfin/test_sdk_js.py: JF_URL is the server, JF_RECORD a file where every
// response is written (one JSON line each) so the Python side checks them against the
// Jellyfin OpenAPI document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import axios from 'axios';
import { Jellyfin, RecommendedServerInfoScore } from '@jellyfin/sdk';
import {
  getLibraryApi, getMediaInfoApi, getShowApi, getUserApi, getUserViewApi,
} from '@jellyfin/sdk/lib/utils/api/index.js';

const URL = process.env.JF_URL;
const RECORD = process.env.JF_RECORD;

axios.interceptors.response.use((response) => {
  if (RECORD) {
    const url = new globalThis.URL(response.config.url, response.config.baseURL || URL);
    appendFileSync(RECORD, JSON.stringify({
      method: response.config.method.toUpperCase(),
      path: url.pathname,
      status: response.status,
      contentType: response.headers['content-type'] || '',
      body: typeof response.data === 'string' ? response.data : JSON.stringify(response.data),
    }) + '\n');
  }
  return response;
});

const jellyfin = new Jellyfin({
  clientInfo: { name: 'ferrite-sdk-test', version: '1.0.0' },
  deviceInfo: { name: 'node', id: 'sdk-js-1' },
});

test('logs in and browses with @jellyfin/sdk', async () => {
  const servers = await jellyfin.discovery.getRecommendedServerCandidates(URL);
  const best = jellyfin.discovery.findBestServer(servers);
  assert.ok(best, 'discovery found the server');
  // GOOD, not GREAT: this SDK is generated for a newer API (13.0) than the 10.11 Ferrite
  // announces, which it reports as its one issue; ProductName and the 10.x floor pass.
  assert.ok(best.score >= RecommendedServerInfoScore.GOOD, JSON.stringify(best.issues));
  assert.deepEqual(best.issues.map((i) => i.constructor.name), ['VersionOutdatedIssue']);
  assert.equal(best.systemInfo.ProductName, 'Jellyfin Server');

  const api = jellyfin.createApi(best.address);
  const auth = await api.authenticateUserByName('alice', 'alice password');
  assert.equal(auth.data.User.Name, 'alice');
  assert.ok(api.accessToken);
  const userId = auth.data.User.Id;

  const me = await getUserApi(api).getCurrentUser();
  assert.equal(me.data.Id, userId);

  const views = (await getUserViewApi(api).getUserViews({ userId })).data.Items;
  assert.deepEqual(views.map((v) => v.Name), ['Movies', 'Shows']);

  const movies = views.find((v) => v.Name === 'Movies');
  const items = (await getLibraryApi(api).getItems({
    userId, parentId: movies.Id, sortBy: ['SortName'], sortOrder: ['Ascending'],
  })).data;
  assert.deepEqual(items.Items.map((i) => i.Name), ['Other', 'Plain']);
  assert.equal(items.TotalRecordCount, 2);

  const shows = views.find((v) => v.Name === 'Shows');
  const series = (await getLibraryApi(api).getItems({
    userId, parentId: shows.Id, includeItemTypes: ['Series'], recursive: true,
  })).data.Items;
  assert.equal(series.length, 1);
  const seasons = (await getShowApi(api).getSeasons({ seriesId: series[0].Id, userId })).data.Items;
  assert.deepEqual(seasons.map((s) => s.IndexNumber), [1]);
  const episodes = (await getShowApi(api).getEpisodes({
    seriesId: series[0].Id, seasonId: seasons[0].Id, userId,
  })).data.Items;
  assert.deepEqual(episodes.map((e) => e.Name), ['Pilot', 'Second']);

  const plain = items.Items.find((i) => i.Name === 'Plain');
  const detail = (await getLibraryApi(api).getItem({ itemId: plain.Id, userId })).data;
  assert.equal(detail.MediaSources[0].MediaStreams[0].Type, 'Video');

  const info = (await getMediaInfoApi(api).getPostedPlaybackInfo({
    itemId: plain.Id,
    playbackInfoDto: {
      UserId: userId,
      DeviceProfile: {
        DirectPlayProfiles: [{ Container: 'mp4', Type: 'Video', VideoCodec: 'h264', AudioCodec: 'aac' }],
        TranscodingProfiles: [{ Container: 'ts', Type: 'Video', VideoCodec: 'h264', AudioCodec: 'aac', Protocol: 'hls' }],
      },
    },
  })).data;
  assert.equal(info.MediaSources[0].SupportsDirectPlay, true);
  assert.ok(info.PlaySessionId);
  const streamUrl = `${api.basePath}/Videos/${plain.Id}/stream?static=true&api_key=${api.accessToken}`;
  const head = await axios.head(streamUrl);
  assert.equal(head.status, 200);
});
