"""territorium.plan"""
