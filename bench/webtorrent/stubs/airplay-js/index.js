// Only `webtorrent --airplay` imports this; the benchmark never passes that flag.
throw new Error('airplay-js is stubbed out in bench/webtorrent (the benchmark does not use AirPlay)')
