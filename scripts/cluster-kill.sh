#!/usr/bin/env bash
# cluster-kill.sh: kill -9 the leader of a three-node ndxpd cluster under a
# load of sends, receipts and status reports, and check that every
# receipted document reached its recipient exactly once, that every
# status came back to its sender exactly once, and that the nodes agree.
#
#   scripts/cluster-kill.sh [-n RUNS] [-d DOCS] [-b BINDIR] [-k]
#
#   -n RUNS   runs, each on a new cluster (default 1)
#   -d DOCS   documents each of the two agencies sends per run (default 60)
#   -b BINDIR directory holding ndxpd, ndxpctl and ndxp (default: built
#             from this repository into a temporary directory)
#   -k        keep each run's directory (cluster, logs, inboxes)
#
# Each run: ndxpctl cluster init (3 nodes, loopback), start the 3 ndxpd,
# register two agencies and issue their credentials with ndxpctl, run
# `ndxp receive --follow` for each, send DOCS documents from each to the
# other with `ndxp send` (each with its own reference, retried until it
# has a receipt; one in eight carries a 150 KiB body, kept as a file
# that must reach a majority of the nodes), report 03 on every other document received, kill -9 the
# leader a third of the way, restart it two thirds of the way, drain,
# then count. The nodes are compared by making each the leader in turn
# (kill -9 the leader, restart it) and asking it `ndxpctl check`.
# It prints a line per run and a summary, and exits 1 if any run lost a
# receipted document or a status, delivered one twice, or the nodes
# disagree. Problems `ndxpctl check` reports that are known gaps of the
# daemon (a body file a node lacks, files it never swept; see "Kill
# tests" in docs/cluster.md) are printed, and fail only with
# NDXP_KILL_STRICT=1.
set -uo pipefail

runs=1 docs=60 bin="" keep=0
while getopts "n:d:b:kh" opt; do
	case $opt in
	n) runs=$OPTARG ;;
	d) docs=$OPTARG ;;
	b) bin=$OPTARG ;;
	k) keep=1 ;;
	h) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
bin_tmp=""
if [[ -z $bin ]]; then
	bin=$(mktemp -d -t ndxp-kill-bin.XXXXXX)
	bin_tmp=$bin
	trap 'rm -rf "$bin_tmp"' EXIT # replaced below once there is a run to clean up too
	echo "building ndxpd, ndxpctl, ndxp into $bin" >&2
	(cd "$repo" && go build -o "$bin/" ./cmd/ndxpd ./cmd/ndxpctl ./cmd/ndxp) || exit 2
fi
for b in ndxpd ndxpctl ndxp; do
	[[ -x $bin/$b ]] || { echo "no $bin/$b" >&2; exit 2; }
done

now_ms() { date +%s%3N; }
say() { printf '%s %s\n' "$(date +%T.%3N)" "$*" >&2; }

# Per run state: w (run directory), admin (admin.creds), pid[i], log[i],
# grpc[i] (node i's gRPC address), bg (background pids of the load).
declare -a pid log grpc
bg=()

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

start_node() { # i
	local i=$1
	log[i]=$w/node$i.$(date +%s%N).log
	"$bin/ndxpd" --config "$w/cluster/node$i/ndxpd.json" >"${log[i]}" 2>&1 &
	pid[i]=$!
	for _ in $(seq 300); do
		port_open "${grpc[i]}" && return 0
		kill -0 "${pid[i]}" 2>/dev/null || { say "node $i exited at start:"; tail -5 "${log[i]}" >&2; return 1; }
		sleep 0.1
	done
	say "node $i did not listen on ${grpc[i]} within 30 s"
	return 1
}

alive() { [[ -n ${pid[$1]:-} ]] && kill -0 "${pid[$1]}" 2>/dev/null; }

kill_node() { # i: SIGKILL, as a power cut would
	alive "$1" && kill -9 "${pid[$1]}" 2>/dev/null
	wait "${pid[$1]}" 2>/dev/null
	pid[$1]=""
}

stop_node() { # i: SIGTERM, SIGKILL after 20 s
	local i=$1
	alive "$i" || return 0
	kill -TERM "${pid[i]}"
	for _ in $(seq 200); do
		alive "$i" || break
		sleep 0.1
	done
	kill_node "$i"
}

# leader prints the index of the node that leads: from `ndxpctl cluster
# status -o json` ({"leader": "nN", ...}) where ndxpctl has it, else from
# the last leadership line of each running node's log.
leader() {
	local out id i last
	if out=$("$bin/ndxpctl" --creds "$admin" cluster status -o json 2>/dev/null); then
		id=$(printf '%s' "$out" | grep -o '"leader": *"[^"]*"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
		i=${id#n}
		if [[ $i =~ ^[0-9]+$ ]] && alive "$i"; then
			echo "$i"
			return 0
		fi
	fi
	for i in 1 2 3; do
		alive "$i" || continue
		last=$(grep -E 'this node (leads|no longer leads) the cluster' "${log[i]}" | tail -1)
		if [[ $last == *"this node leads the cluster"* ]]; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

wait_leader() { # timeout in seconds
	local l
	for _ in $(seq $(($1 * 10))); do
		l=$(leader) && { echo "$l"; return 0; }
		sleep 0.1
	done
	return 1
}

# retry runs a command until it succeeds, up to 30 times.
retry() {
	local n
	for n in $(seq 30); do
		"$@" >/dev/null 2>"$w/retry.err" && return 0
		sleep 0.3
	done
	say "gave up: $* ($(cat "$w/retry.err"))"
	return 1
}

agency_add() { # code: created, or created by an attempt whose answer was lost
	local out
	out=$("$bin/ndxpctl" --creds "$admin" agency add "$1" --name "Cơ quan thử $1" --stage pilot 2>&1) && return 0
	[[ $out == *"lready"* ]]
}

receipts() { cat "$w"/sent-*.tsv 2>/dev/null | wc -l; }

# sender sends $docs documents from $1 to $2, each retried with its
# reference until it has a receipt: ref TAB id TAB ms TAB dup per receipt.
sender() {
	local from=$1 to=$2 i ref id err t0 files
	for i in $(seq "$docs"); do
		ref="$from,2026/12/02,$run-$i/KILLSH"
		t0=$SECONDS
		while ((SECONDS - t0 < 120)); do
			files=("$w/phu-luc.txt")
			((i % 8 == 0)) && files+=("$w/phu-luc-lon.bin") # a body kept as a file, pushed to a majority
			if id=$("$bin/ndxp" --creds "$w/$from.creds" send --to "$to" --subject "Kiểm thử cụm $ref" \
				--ref "$ref" "${files[@]}" 2>"$w/send-$from.err"); then
				err=0
				grep -q "already accepted" "$w/send-$from.err" && err=1
				printf '%s\t%s\t%s\t%s\n' "$ref" "$id" "$(now_ms)" "$err" >>"$w/sent-$from.tsv"
				continue 2
			fi
			echo x >>"$w/send-failures-$from"
			sleep 0.2
		done
		echo "$ref" >>"$w/gaveup-$from"
	done
}

# reporter reports 03 on every other document $1 received, until the
# file stop-reports appears; the ids reported go to reported-$1.
reporter() {
	local code=$1 seen=0 id out
	while :; do
		[[ -e $w/stop-reports ]] && [[ $(doc_ids "$code" | wc -l) -le $seen ]] && return 0
		mapfile -t new < <(doc_ids "$code" | tail -n +$((seen + 1)))
		for id in "${new[@]}"; do
			seen=$((seen + 1))
			((seen % 2 == 0)) || continue
			for _ in $(seq 100); do
				if out=$("$bin/ndxp" --creds "$w/$code.creds" status "$id" --code 03 2>&1) ||
					[[ $out == *"move forward only"* ]]; then # recorded by an attempt whose answer was lost
					echo "$id" >>"$w/reported-$code"
					break
				fi
				sleep 0.2
			done
		done
		sleep 0.3
	done
}

# doc_ids prints the ids of documents that reached $1's handler, in order.
doc_ids() { awk -F'\t' '$2 != "status" && $2 != "recalled" {print $1}' "$w/recv-$1.out" 2>/dev/null; }
# statuses prints "id code" of the statuses that reached sender $1.
statuses() { awk -F'\t' '$2 == "status" {print $1, $4}' "$w/recv-$1.out" 2>/dev/null; }

# outstanding counts receipted documents not yet at their recipient, or
# whose 01 (or a reported 03) is not yet back at the sender.
outstanding() {
	local n=0 from to
	for from in "$A" "$B"; do
		[[ $from == "$A" ]] && to=$B || to=$A
		n=$((n + $(comm -23 <(cut -f2 "$w/sent-$from.tsv" 2>/dev/null | sort -u) <(doc_ids "$to" | sort -u) | wc -l)))
		n=$((n + $(comm -23 <(cut -f2 "$w/sent-$from.tsv" 2>/dev/null | sort -u) <(statuses "$from" | awk '$2 == "01" {print $1}' | sort -u) | wc -l)))
		n=$((n + $(comm -23 <(sort -u "$w/reported-$to" 2>/dev/null) <(statuses "$from" | awk '$2 == "03" {print $1}' | sort -u) | wc -l)))
	done
	echo "$n"
}

cleanup_run() {
	local i
	stop_load
	for i in 1 2 3; do kill_node "$i"; done
}
stop_load() {
	local p
	for p in "${bg[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for p in "${bg[@]}"; do wait "$p" 2>/dev/null; done
	bg=()
}
trap 'cleanup_run; [[ -n $bin_tmp ]] && rm -rf "$bin_tmp"' EXIT
trap 'exit 130' INT TERM

A=000.00.00.S01
B=000.00.00.S02
failures=0 tot_known=0 tot_receipted=0 tot_delivered=0 tot_missing=0 tot_dups=0 tot_status_bad=0
gaps=()

for run in $(seq "$runs"); do
	w=$(mktemp -d -t ndxp-kill.XXXXXX)
	admin=$w/cluster/admin.creds
	fail=() known=()
	base=$((20000 + 10 * (RANDOM % 3000)))
	for p in $(seq "$base" $((base + 23))); do
		port_open "127.0.0.1:$p" && base=$((20000 + 10 * (RANDOM % 3000)))
	done
	"$bin/ndxpctl" cluster init --nodes 3 --out "$w/cluster" --base-port "$base" >/dev/null || { echo "cluster init failed" >&2; exit 2; }
	for i in 1 2 3; do grpc[i]=127.0.0.1:$((base + 10 * (i - 1))); done
	say "run $run: cluster in $w, gRPC ${grpc[*]}"
	for i in 1 2 3; do start_node "$i" || fail+=("node $i did not start"); done
	lead=$(wait_leader 30) || fail+=("no leader 30 s after the start")

	if ((${#fail[@]} == 0)); then
		retry agency_add "$A" && retry agency_add "$B" &&
			retry "$bin/ndxpctl" --creds "$admin" credential issue "$A" --out "$w/$A.creds" --force &&
			retry "$bin/ndxpctl" --creds "$admin" credential issue "$B" --out "$w/$B.creds" --force ||
			fail+=("could not register the agencies")
	fi
	if ((${#fail[@]} == 0)); then
		head -c 2048 /dev/urandom | base64 >"$w/phu-luc.txt"
		head -c 153600 /dev/urandom >"$w/phu-luc-lon.bin"
		for c in "$A" "$B"; do
			"$bin/ndxp" --creds "$w/$c.creds" receive --out "$w/inbox-$c" --follow >"$w/recv-$c.out" 2>"$w/recv-$c.err" &
			bg+=($!)
			reporter "$c" &
			bg+=($!)
		done
		sender "$A" "$B" &
		sa=$!
		sender "$B" "$A" &
		sb=$!
		bg+=("$sa" "$sb")

		total=$((2 * docs))
		while (($(receipts) < total / 3)) && kill -0 "$sa" 2>/dev/null; do sleep 0.1; done
		kill_ms=$(now_ms)
		kill_node "$lead"
		say "run $run: kill -9 leader n$lead at $(receipts) receipts"
		if next=$(wait_leader 20); then
			say "run $run: n$next leads $(($(now_ms) - kill_ms)) ms after the kill"
		else
			fail+=("no leader 20 s after the kill")
		fi
		while (($(receipts) < 2 * total / 3)) && kill -0 "$sa" 2>/dev/null; do sleep 0.1; done
		start_node "$lead" || fail+=("the killed node did not restart")
		say "run $run: restarted n$lead at $(receipts) receipts"
		wait "$sa" "$sb"
		touch "$w/stop-reports"
		for _ in $(seq 600); do (($(outstanding) == 0)) && break; sleep 0.1; done
		sleep 1 # a duplicate would show now
		stop_load

		# Count.
		receipted=0 delivered=0 missing=0 dups=0 status_bad=0
		for from in "$A" "$B"; do
			[[ $from == "$A" ]] && to=$B || to=$A
			r=$(cut -f2 "$w/sent-$from.tsv" 2>/dev/null | sort -u | wc -l)
			d=$(doc_ids "$to" | sort -u | wc -l)
			m=$(comm -23 <(cut -f2 "$w/sent-$from.tsv" 2>/dev/null | sort -u) <(doc_ids "$to" | sort -u) | wc -l)
			x=$(doc_ids "$to" | sort | uniq -d | wc -l)
			s1=$(comm -23 <(cut -f2 "$w/sent-$from.tsv" 2>/dev/null | sort -u) <(statuses "$from" | awk '$2 == "01" {print $1}' | sort -u) | wc -l)
			s3=$(comm -23 <(sort -u "$w/reported-$to" 2>/dev/null) <(statuses "$from" | awk '$2 == "03" {print $1}' | sort -u) | wc -l)
			sd=$(statuses "$from" | sort | uniq -d | wc -l)
			# Each reference has one id: a second id would be a document stored twice.
			twice=$(cut -f1,2 "$w/sent-$from.tsv" 2>/dev/null | sort -u | cut -f1 | uniq -d | wc -l)
			receipted=$((receipted + r)) delivered=$((delivered + d)) missing=$((missing + m)) dups=$((dups + x))
			status_bad=$((status_bad + s1 + s3 + sd))
			((m > 0)) && fail+=("$m documents receipted to $from never reached $to: $(comm -23 <(cut -f2 "$w/sent-$from.tsv" | sort -u) <(doc_ids "$to" | sort -u) | head -3 | tr '\n' ' ')")
			((x > 0)) && fail+=("$x documents from $from reached $to's handler twice")
			((s1 + s3 > 0)) && fail+=("$((s1 + s3)) statuses never came back to $from")
			((sd > 0)) && fail+=("$sd statuses came back to $from twice")
			((twice > 0)) && fail+=("$twice references of $from were receipted under two ids")
		done
		gap=$(cat "$w"/sent-*.tsv | cut -f3 | sort -n | awk -v k="$kill_ms" '
			{ if (prev != "" && prev >= k - 1000 && $1 <= k + 30000 && $1 - prev > g) g = $1 - prev; prev = $1 }
			END { print g + 0 }')
		gaps+=("$gap")

		# Compare the nodes: each leads in turn and answers `ndxpctl check`.
		# The leader is killed to move on, not stopped: a graceful stop
		# hands the leadership to the first follower in configuration
		# order, so the last node might never lead.
		declare -A checked=()
		for _ in $(seq 16); do
			l=$(wait_leader 30) || { fail+=("no leader while comparing the nodes"); break; }
			if [[ -z ${checked[$l]:-} ]]; then
				out=$("$bin/ndxpctl" --creds "$admin" check 2>&1)
				checked[$l]=$(printf '%s\n' "$out" | sed -n 's/^checked \([0-9]*\) documents, \([0-9]*\) queued events.*/documents=\1 events=\2/p')
				[[ -n ${checked[$l]} ]] || checked[$l]="unchecked"
				while IFS= read -r p; do
					case $p in
					*"body file missing"* | *"temporary uploads left behind"* | *"body files have no record"*)
						# Known gaps of the daemon (docs/cluster.md, Kill tests).
						known+=("n$l: ${p#problem: }")
						[[ ${NDXP_KILL_STRICT:-} == 1 ]] && fail+=("ndxpctl check on n$l: ${p#problem: }")
						;;
					*) fail+=("ndxpctl check on n$l: ${p#problem: }") ;;
					esac
				done < <(printf '%s\n' "$out" | grep '^problem:')
				[[ ${checked[$l]} == unchecked ]] && fail+=("ndxpctl check on n$l: $out")
			fi
			((${#checked[@]} == 3)) && break
			kill_node "$l"
			wait_leader 30 >/dev/null || true
			start_node "$l" || fail+=("n$l did not restart")
		done
		counts=$(for k in "${!checked[@]}"; do echo "n$k: ${checked[$k]}"; done | sort | tr '\n' ';')
		(($(printf '%s\n' "${checked[@]}" | sort -u | wc -l) == 1)) || fail+=("the nodes disagree: $counts")
		((${#checked[@]} == 3)) || fail+=("only ${#checked[@]} nodes led during the comparison")
		unset checked

		gave_up=$(cat "$w"/gaveup-* 2>/dev/null | wc -l)
		send_failures=$(cat "$w"/send-failures-* 2>/dev/null | wc -l)
		printf 'run %d: receipted=%d delivered=%d missing=%d duplicates=%d bad_statuses=%d gave_up=%d failed_send_attempts=%d failover_gap=%dms nodes=[%s] %s\n' \
			"$run" "$receipted" "$delivered" "$missing" "$dups" "$status_bad" "$gave_up" "$send_failures" "$gap" "$counts" \
			"$( ((${#fail[@]})) && echo FAIL || echo ok)"
		tot_receipted=$((tot_receipted + receipted)) tot_delivered=$((tot_delivered + delivered))
		tot_missing=$((tot_missing + missing)) tot_dups=$((tot_dups + dups)) tot_status_bad=$((tot_status_bad + status_bad))
	fi
	cleanup_run
	if ((${#known[@]})); then
		printf '  run %d: known gaps (NDXP_KILL_STRICT=1 fails them):\n' "$run"
		printf '    %s\n' "${known[@]}"
		tot_known=$((tot_known + ${#known[@]}))
	fi
	if ((${#fail[@]})); then
		failures=$((failures + 1))
		printf '  run %d failed:\n' "$run"
		printf '    %s\n' "${fail[@]}"
		for i in 1 2 3; do grep -hE 'level=(ERROR|WARN)|panic' "$w"/node$i.*.log | tail -5 | sed "s/^/  n$i: /"; done
		keep_this=1
	else
		keep_this=$keep
	fi
	if ((keep_this)); then echo "  kept $w"; else rm -rf "$w"; fi
done

median=$(printf '%s\n' "${gaps[@]:-0}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'summary: runs=%d failures=%d receipted=%d delivered=%d missing=%d duplicates=%d bad_statuses=%d failover_gap_median=%sms known_gaps=%d\n' \
	"$runs" "$failures" "$tot_receipted" "$tot_delivered" "$tot_missing" "$tot_dups" "$tot_status_bad" "$median" "$tot_known"
((failures == 0))
