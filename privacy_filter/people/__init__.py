"""The people stage: finding each person in a frame, telling whose pixels are whose, and tracking the user."""
