"""What the page needs besides the music: reading its fields, wording, share links, limits, tempo."""
