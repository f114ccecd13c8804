"""territorium.analytics"""
