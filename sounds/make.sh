#!/bin/sh
# Regenerates ccari's prompts: 8 kHz mono 16-bit WAV, played by Asterisk as sound:ccari/<name>.
# Needs espeak-ng and sox (Debian packages espeak-ng, sox). Output is checked into the repo.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() {  # say NAME TEXT
    espeak-ng -v en-us -s 150 -p 45 -w "$tmp/$1.raw.wav" "$2"
    # 8 kHz mono 16-bit, 3 dB headroom, 100 ms of silence trimmed/padded at both ends
    sox -D "$tmp/$1.raw.wav" -r 8000 -c 1 -b 16 "$1.wav" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3 pad 0.1 0.1
    echo "$1.wav: $2"
}

say welcome "Welcome. For sales, press 1. For support, press 2."
say invalid-option "Sorry, that is not a valid option."
say please-hold "Please hold. You are caller number"
say estimated-wait "Your estimated wait is"
say minutes "minutes"
say minute "minute"
say unavailable "Sorry, all our lines are busy. Please call again later."
say thank-you "Thank you for calling."
say connecting "Connecting you to an agent."
# callbacks (ccari.callbacks)
say callback-offer "Hello, we are calling you back as you asked. To speak to an agent now, press 1."
say callback-confirm "Thank you. We will call you back shortly, and you keep your place in the queue. Goodbye."
say callback-refused "Sorry, we cannot call you back on this number. Please hold for an agent."
say welcome-callback "Welcome. For sales, press 1. For support, press 2. To be called back without losing your place, press 3."
# overflow (ccari.voice.overflow): a caller over the tenant's trunk limit
say overflow-callback-offer "Sorry, all our lines are busy. To be called back on this number as soon as a line is free, press 1."
say overflow-voicemail "Sorry, all our lines are busy. Please leave a message after the tone, then press the hash key. We will get back to you."
say voicemail-saved "Thank you. Your message has been saved. Goodbye."
# after hours (ccari.voice.afterhours): a call outside its number's business hours
say closed "We are closed. Please call again during our opening hours."
say closed-voicemail "We are closed. Please leave a message after the tone, then press the hash key. We will get back to you."
