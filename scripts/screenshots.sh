#!/usr/bin/env bash
# Screenshots of the documentation site in a real browser (headless Chromium),
# to look at what a reader sees: the pages with tables, chapter 01's sequence
# diagram, a source page, a class graph, the tutorial and the benchmark charts,
# at desktop and phone widths, in light and dark mode.
#
#   scripts/screenshots.sh [HTML_DIR [OUT_DIR]]
#
# HTML_DIR defaults to build/dev/docs/html (build it first:
# cmake --build --preset dev --target docs); the PNGs go to build/screenshots,
# named PAGE[-SECTION]-WIDTH-THEME.png. Dark mode is the browser's own
# preference (--force-dark-mode), which the theme follows as a reader's system
# setting would. Needs chromium (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

html=${1:-build/dev/docs/html}
out=${2:-build/screenshots}
if [[ ! -f $html/index.html ]]; then
  echo "screenshots.sh: no site in $html (build the 'docs' target first)" >&2
  exit 2
fi
if ! command -v chromium >/dev/null; then
  echo "screenshots.sh: chromium not found (apt-get install -y chromium)" >&2
  exit 1
fi
mkdir -p "$out"
html=$(realpath "$html")

# What to look at: PAGE.html, optionally a heading to scroll to (Doxygen
# numbers its anchors, autotoc_mdNN, so the script looks the heading up).
shots=(
  "tutorial.html"
  "ch01_protocol_echo_server.html|The life of a connection"
  "ch01_protocol_echo_server.html|From asyncio to C++"
  "ch02_stream_echo_server.html|From asyncio to C++"
  "ch03_stream_echo_client.html|From asyncio to C++"
  "ch04_echo_benchmark.html|From asyncio to C++"
  "asyncio_to_cpp.html"
  "benchmarks.html|Results"
  "transport_8hpp_source.html"
  "classsandbox_1_1transport.html"
)
sizes=("1280,2000|desktop" "390,2000|phone")

anchor_of() {  # anchor_of PAGE HEADING: the id of the anchor just before HEADING
  python3 - "$1" "$2" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
match = re.search(r'id="([^"]+)"></a>\s*' + re.escape(sys.argv[2]) + r"\s*</h", text)
print(match[1] if match else "")
EOF
}

count=0
for shot in "${shots[@]}"; do
  page=${shot%%|*}
  heading=; [[ $shot == *"|"* ]] && heading=${shot#*|}
  url="file://$html/$page"
  name=${page%.html}
  if [[ -n $heading ]]; then
    anchor=$(anchor_of "$html/$page" "$heading")
    if [[ -z $anchor ]]; then
      echo "screenshots.sh: no heading \"$heading\" in $page" >&2
      exit 1
    fi
    url+="#$anchor"
    name+="-$(tr -c 'A-Za-z0-9\n' '_' <<<"$heading" | tr 'A-Z' 'a-z')"
  fi
  for size in "${sizes[@]}"; do
    for theme in light dark; do
      flags=()
      [[ $theme == dark ]] && flags+=(--force-dark-mode)
      file="$out/$name-${size#*|}-$theme.png"
      # --virtual-time-budget lets the theme's scripts run (dark mode, the
      # table of contents) before the picture is taken.
      timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        "${flags[@]}" --virtual-time-budget=4000 --window-size="${size%|*}" \
        --screenshot="$file" "$url" >/dev/null 2>&1 ||
        { echo "screenshots.sh: chromium failed on $url" >&2; exit 1; }
      count=$((count + 1))
    done
  done
done
echo "$count screenshots in $out"
