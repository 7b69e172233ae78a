"""ASG vision-language pre-training from asg-parse artifacts, images and region boxes."""
