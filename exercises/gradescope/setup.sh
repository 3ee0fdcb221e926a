#!/usr/bin/env bash
# Gradescope image setup: the lab needs Python >= 3.11 (tomllib) and, for exercise 12, scapy.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3.11 >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends software-properties-common >/dev/null
    add-apt-repository -y ppa:deadsnakes/ppa >/dev/null
    apt-get install -y -qq --no-install-recommends python3.11 >/dev/null
fi
# Exercise 12 (reading a pcap): its checks write and read the captures with scapy (the
# lab's one grading dependency, pyproject's scapy>=2.5) and the student's answers.py
# imports it. They read capture files only, so no BPF and no libpcap (that is only for
# `--pcap`, which run_autograder does not use). Installed for python3.11 system-wide, so
# the submission, run in the sandbox as the grader's user, imports it too.
if ! python3.11 -c 'import scapy' 2>/dev/null; then
    if ! python3.11 -m pip --version >/dev/null 2>&1 && ! python3.11 -m ensurepip -q >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3.11-venv >/dev/null  # ensurepip (deadsnakes)
        python3.11 -m ensurepip -q >/dev/null
    fi
    PIP_BREAK_SYSTEM_PACKAGES=1 python3.11 -m pip install -q --no-cache-dir 'scapy>=2.5' >/dev/null
fi
