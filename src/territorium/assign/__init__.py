"""territorium.assign"""
